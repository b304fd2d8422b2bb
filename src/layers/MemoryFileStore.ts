/**
 * An in-memory FileStore for tests, with controls to change files, hold reads at a gate, inject
 * faults and count reads, so tests wait on events instead of sleeping. Its directories are the ones
 * its names imply: there are no empty directories, and no symlinks.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { isAcceptableName } from "../services/FileName.js"
import type { FileInfo, OpenFile } from "../services/FileStore.js"
import { FileStore, FileStoreError, readWhole, sameVersion } from "../services/FileStore.js"
import { listNames } from "./internal/listNames.js"

/** Where an injected fault strikes: at open, or once this many bytes have been read. */
export type FaultPoint = { readonly at: "open" } | { readonly at: number }

/** Holds reads of one name at open until `open` is called. */
export interface Gate {
  /** Lets every held read through, and stops holding new ones. */
  readonly open: Effect.Effect<void>
  /** Reads held at the gate right now. */
  readonly waiting: Effect.Effect<number>
  /** Completes once at least `count` reads are held at the gate. */
  readonly awaitWaiting: (count: number) => Effect.Effect<void>
}

export class MemoryFiles extends Context.Tag("ferry/test/MemoryFiles")<MemoryFiles, {
  /** Creates or overwrites in place (same inode): a new version either way. Strings are UTF-8. */
  readonly put: (name: string, bytes: Uint8Array | string) => Effect.Effect<FileInfo>
  /** Writes a new file over `name`, with a new inode, as a rename over it would. */
  readonly replace: (name: string, bytes: Uint8Array | string) => Effect.Effect<FileInfo>
  readonly remove: (name: string) => Effect.Effect<void>
  /** Reads and streams of `name` that got past any gate to the file, whatever their outcome. */
  readonly reads: (name: string) => Effect.Effect<number>
  readonly totalReads: Effect.Effect<number>
  /** Holds reads of `name` at a gate; holding a name already held returns the same gate. */
  readonly hold: (name: string) => Effect.Effect<Gate>
  /** The next `times` reads of `name` fail with `Unreadable` at `point` (streams emit the bytes before it). */
  readonly fail: (name: string, point: FaultPoint, times?: number) => Effect.Effect<void>
  /**
   * The next read of `name` sees it overwritten with `bytes` after its first chunk (after the whole
   * file for `read`), and fails with `Changed`.
   */
  readonly changeDuring: (name: string, bytes: Uint8Array | string) => Effect.Effect<void>
}>() {}

interface StoredFile {
  readonly bytes: Uint8Array
  /** The bytes' length, as listings read it. */
  readonly size: number
  readonly mtimeNs: bigint
  readonly ino: bigint
}

interface GateState {
  readonly opened: Deferred.Deferred<void>
  readonly waiting: SubscriptionRef.SubscriptionRef<number>
  readonly gate: Gate
}

interface Controls {
  readonly reads: number
  readonly gate: GateState | undefined
  readonly faults: ReadonlyArray<FaultPoint>
  readonly change: Uint8Array | undefined
}

/** What a read that reached the file got: its bytes, and the fault and change it must suffer. */
interface Opened {
  readonly bytes: Uint8Array
  readonly fault: FaultPoint | undefined
  readonly change: Uint8Array | undefined
}

interface State {
  readonly files: ReadonlyMap<string, StoredFile>
  readonly controls: ReadonlyMap<string, Controls>
  readonly clock: bigint
  readonly lastIno: bigint
  readonly totalReads: number
}

const noControls: Controls = { reads: 0, gate: undefined, faults: [], change: undefined }

const toBytes = (bytes: Uint8Array | string): Uint8Array =>
  typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes.slice()

const infoOf = (name: string, file: StoredFile): FileInfo => ({
  name,
  size: file.bytes.length,
  mtimeNs: file.mtimeNs,
  dev: 1n,
  ino: file.ino
})

const withEntry = <V>(map: ReadonlyMap<string, V>, key: string, value: V): ReadonlyMap<string, V> =>
  new Map(map).set(key, value)

const controlsOf = (state: State, name: string): Controls => state.controls.get(name) ?? noControls

const updateControls = (state: State, name: string, f: (controls: Controls) => Controls): State => ({
  ...state,
  controls: withEntry(state.controls, name, f(controlsOf(state, name)))
})

// Every write is a new version: the clock stands in for the modification time.
const write = (state: State, name: string, bytes: Uint8Array, newInode: boolean): [FileInfo, State] => {
  const existing = state.files.get(name)
  const lastIno = newInode || existing === undefined ? state.lastIno + 1n : state.lastIno
  const file: StoredFile = {
    bytes,
    size: bytes.length,
    mtimeNs: state.clock + 1n,
    ino: existing !== undefined && !newInode ? existing.ino : lastIno
  }
  return [infoOf(name, file), { ...state, files: withEntry(state.files, name, file), clock: state.clock + 1n, lastIno }]
}

const notFound = (name: string) => new FileStoreError({ reason: "NotFound", name })
const changed = (name: string) => new FileStoreError({ reason: "Changed", name })
const unreadable = (name: string) =>
  new FileStoreError({ reason: "Unreadable", name, cause: new Error("fault injected by MemoryFiles") })

export const make = Effect.gen(function*() {
  const state = yield* Ref.make<State>({ files: new Map(), controls: new Map(), clock: 0n, lastIno: 0n, totalReads: 0 })
  const handles = yield* Ref.make(0)

  const makeGate = (name: string) =>
    Effect.gen(function*() {
      const opened = yield* Deferred.make<void>()
      const waiting = yield* SubscriptionRef.make(0)
      const gate: Gate = {
        open: Deferred.succeed(opened, undefined).pipe(
          Effect.zipRight(Ref.update(state, (s) =>
            updateControls(s, name, (c) =>
              c.gate?.opened === opened ? { ...c, gate: undefined } : c)))
        ),
        waiting: SubscriptionRef.get(waiting),
        awaitWaiting: (count) =>
          waiting.changes.pipe(Stream.filter((n) => n >= count), Stream.take(1), Stream.runDrain)
      }
      return { opened, waiting, gate }
    })

  const hold = (name: string) =>
    Effect.gen(function*() {
      const candidate = yield* makeGate(name)
      return yield* Ref.modify(state, (s) => {
        const held = controlsOf(s, name).gate
        if (held !== undefined) return [held.gate, s]
        return [candidate.gate, updateControls(s, name, (c) => ({ ...c, gate: candidate }))]
      })
    })

  const passGate = (name: string) =>
    Effect.flatMap(Ref.get(state), (s) => {
      const held = controlsOf(s, name).gate
      if (held === undefined) return Effect.void
      return Effect.acquireUseRelease(
        SubscriptionRef.update(held.waiting, (n) => n + 1),
        () => Deferred.await(held.opened),
        () => SubscriptionRef.update(held.waiting, (n) => n - 1)
      )
    })

  // Counts the read, and takes the next fault and pending change if the read reaches the file.
  const arrive = (info: FileInfo) =>
    Ref.modify(state, (s): [Option.Option<Opened>, State] => {
      const counted = updateControls(s, info.name, (c) => ({ ...c, reads: c.reads + 1 }))
      const next = { ...counted, totalReads: s.totalReads + 1 }
      const file = s.files.get(info.name)
      if (file === undefined || !sameVersion(info, infoOf(info.name, file))) return [Option.none(), next]
      const { change, faults } = controlsOf(next, info.name)
      const taken = updateControls(next, info.name, (c) => ({ ...c, faults: faults.slice(1), change: undefined }))
      return [Option.some({ bytes: file.bytes, fault: faults[0], change }), taken]
    })

  const isCurrent = (info: FileInfo) =>
    Effect.map(Ref.get(state), (s) => {
      const file = s.files.get(info.name)
      return file !== undefined && sameVersion(info, infoOf(info.name, file))
    })

  const open = (info: FileInfo): Effect.Effect<OpenFile, FileStoreError, Scope.Scope> =>
    Effect.gen(function*() {
      if (!isAcceptableName(info.name)) return yield* notFound(info.name)
      yield* passGate(info.name)
      const opened = yield* arrive(info)
      if (Option.isNone(opened)) return yield* changed(info.name)
      const { bytes, fault } = opened.value
      let { change } = opened.value
      if (fault?.at === "open") return yield* unreadable(info.name)
      yield* Effect.acquireRelease(Ref.update(handles, (n) => n + 1), () => Ref.update(handles, (n) => n - 1))
      const failAt = typeof fault?.at === "number" ? Math.min(fault.at, bytes.length) : undefined
      // A pending change lands after the first read, or as a read reaches the end, which then fails as
      // a real file's would when its end is checked.
      const landChange = Effect.suspend(() => {
        const overwrite = change
        change = undefined
        return overwrite === undefined
          ? Effect.void
          : Ref.update(state, (s) => write(s, info.name, overwrite, false)[1])
      })
      const readInto = (buffer: Uint8Array, position: number): Effect.Effect<number, FileStoreError> =>
        Effect.gen(function*() {
          if (position > 0) yield* landChange
          if (!(yield* isCurrent(info))) return yield* changed(info.name)
          if (failAt !== undefined && position >= failAt) return yield* unreadable(info.name)
          const end = Math.min(position + buffer.length, bytes.length, failAt ?? bytes.length)
          buffer.set(bytes.subarray(position, end))
          if (end === bytes.length) {
            yield* landChange
            if (!(yield* isCurrent(info))) return yield* changed(info.name)
          }
          return end - position
        })
      return { info, readInto } satisfies OpenFile
    })

  const controls = MemoryFiles.of({
    put: (name, bytes) => Ref.modify(state, (s) => write(s, name, toBytes(bytes), false)),
    replace: (name, bytes) => Ref.modify(state, (s) => write(s, name, toBytes(bytes), true)),
    remove: (name) =>
      Ref.update(state, (s) => {
        const files = new Map(s.files)
        files.delete(name)
        return { ...s, files }
      }),
    reads: (name) => Effect.map(Ref.get(state), (s) => controlsOf(s, name).reads),
    totalReads: Effect.map(Ref.get(state), (s) => s.totalReads),
    hold,
    fail: (name, point, times = 1) => {
      const faults = Array.from({ length: times }, () => point)
      return Ref.update(state, (s) => updateControls(s, name, (c) => ({ ...c, faults: [...c.faults, ...faults] })))
    },
    changeDuring: (name, bytes) =>
      Ref.update(state, (s) => updateControls(s, name, (c) => ({ ...c, change: toBytes(bytes) })))
  })

  const store = FileStore.of({
    stat: (name) =>
      Effect.flatMap(Ref.get(state), (s) => {
        const file = s.files.get(name)
        return isAcceptableName(name) && file !== undefined ? Effect.succeed(infoOf(name, file)) : notFound(name)
      }),
    // The path (and the faults) of any open file, read in one piece.
    read: (info) => Effect.scoped(Effect.flatMap(open(info), (file) => readWhole(file, new Uint8Array(info.size)))),
    open,
    // A snapshot of the names as they are when the listing starts.
    list: (path, { recursive }) =>
      Stream.unwrap(Effect.map(Ref.get(state), (s) => {
        const entries = listNames(s.files, path, recursive)
        return entries === undefined ? Stream.fail(notFound(path)) : Stream.fromIterable(entries)
      })),
    openHandles: Ref.get(handles)
  })

  return { store, controls }
})

/** A fresh, empty store per build. */
export const layer: Layer.Layer<FileStore | MemoryFiles> = Layer.effectContext(
  Effect.map(make, ({ controls, store }) => Context.make(FileStore, store).pipe(Context.add(MemoryFiles, controls)))
)

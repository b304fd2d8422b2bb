/**
 * Downloading several files in one command: the names given, and every file under each directory
 * given (a name ending in `/`), into one directory with the tree recreated. Requests are pipelined
 * over one connection per node (one for a single server; on a ring, each file goes to its name's
 * node, the nodes side by side); each file is verified, resumable and retried as a single download
 * is, a node that refuses or drops its connection hands its files to their next nodes at once, and
 * a file that fails for good is named at the end without stopping the others.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { formatBytes } from "../../format/ByteSize.js"
import type * as Codec from "../../protocol/Codec.js"
import type { Digest } from "../../protocol/Digest.js"
import type { ProtocolError } from "../../protocol/ProtocolError.js"
import type { ConnectionError } from "../../services/Connection.js"
import { receiveInto, requestFor } from "./download.js"
import { DestinationError, type TransferError } from "./errors.js"
import { connect, type ServerAddress, type Session } from "./exchange.js"
import * as Nodes from "./Nodes.js"
import * as Partial from "./Partial.js"
import * as Progress from "./Progress.js"
import { backoff, isTransient, retryReason } from "./retry.js"
import { expand, type Wanted } from "./wanted.js"

export type Failure = ConnectionError | ProtocolError | TransferError | DestinationError

export interface ManyOptions {
  /** The server, or the ring of them (`Nodes.make`). */
  readonly server: ServerAddress | Nodes.Nodes
  /** Files, and directories (ending in `/`), as the server names them. */
  readonly names: ReadonlyArray<string>
  readonly directory: string
  readonly progress: boolean
  readonly digests: ReadonlyArray<Digest>
  readonly resume: boolean
  readonly retries: number
  readonly notify: (line: string) => Effect.Effect<void>
}

export interface ManyOutcome {
  readonly saved: ReadonlyArray<{ readonly name: string; readonly path: string; readonly size: number }>
  /** What failed for good: a file, or a directory that could not be listed. */
  readonly failed: ReadonlyArray<{
    readonly name: string
    readonly error: Failure
    /** Where it would have been saved, under the destination directory (none for a directory). */
    readonly saveAs?: string
  }>
}

/** Requests sent ahead of the response being read: enough to keep a connection busy with small files. */
const PIPELINE_DEPTH = 16
/** Partials opened at the same time, ahead of their requests. */
const OPEN_BATCH = 8

type Prepared =
  | {
    readonly _tag: "Sent"
    readonly item: Wanted
    readonly partial: Partial.Partial
    readonly held: Option.Option<Codec.Resume>
    readonly scope: Scope.CloseableScope
  }
  | { readonly _tag: "Unopened"; readonly item: Wanted; readonly error: DestinationError }
  /** Sending failed: the connection is lost. */
  | { readonly _tag: "Cut"; readonly error: ConnectionError }

interface Round {
  /** Files saved or failed for good: not to be asked for again. */
  readonly finished: ReadonlySet<Wanted>
  /** Why the connection could not go on, if it could not. */
  readonly cut?: Failure
}

export const getMany = (options: ManyOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const nodes = Nodes.of(options.server)
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const saved: Array<ManyOutcome["saved"][number]> = []
    const failed: Array<ManyOutcome["failed"][number]> = []

    const wanted = yield* expand(nodes, options.names, failed)

    let filesDone = 0
    let bytesTotal = 0
    const progress = yield* Progress.make({
      label: () => `${filesDone}/${wanted.length} files`,
      total: () => bytesTotal,
      enabled: options.progress
    })
    const seen = new Set<Wanted>()

    // Each folder of the tree is made once, before the first file that goes into it.
    const made = new Set<string>()
    const prepare = (item: Wanted) =>
      Effect.gen(function*() {
        const file = path.join(options.directory, item.saveAs)
        const folder = path.dirname(file)
        if (!made.has(folder)) {
          yield* Effect.mapError(
            fs.makeDirectory(folder, { recursive: true }),
            (cause) => new DestinationError({ reason: "Failed", path: folder, cause })
          )
          made.add(folder)
        }
        const partial = yield* Partial.open(path.dirname(file), path.basename(file))
        if (!options.resume) yield* partial.discard
        return { partial, held: yield* partial.held }
      })

    const round = (server: ServerAddress, todo: ReadonlyArray<Wanted>) =>
      Effect.scoped(Effect.gen(function*() {
        const finished = new Set<Wanted>()
        const roundScope = yield* Effect.scope
        const connected = yield* Effect.either(connect(server))
        if (connected._tag === "Left") return { finished, cut: connected.left } satisfies Round
        const session: Session = connected.right
        const pipeline = yield* Queue.bounded<Prepared>(PIPELINE_DEPTH)

        const open = (item: Wanted): Effect.Effect<Prepared, never, FileSystem.FileSystem | Path.Path> =>
          Effect.gen(function*() {
            const scope = yield* Scope.fork(roundScope, ExecutionStrategy.sequential)
            const opened = yield* Effect.either(Scope.extend(prepare(item), scope))
            if (opened._tag === "Right") return { _tag: "Sent", item, scope, ...opened.right }
            yield* Scope.close(scope, Exit.void)
            return { _tag: "Unopened", item, error: opened.left }
          })
        // Partials are opened a batch at a time, side by side (each takes a few trips to the disk);
        // requests go out in order.
        const batches = Array.from(
          { length: Math.ceil(todo.length / OPEN_BATCH) },
          (_, i) => todo.slice(i * OPEN_BATCH, (i + 1) * OPEN_BATCH)
        )
        const sender = Effect.forEach(batches, (batch) =>
          Effect.flatMap(
            Effect.forEach(batch, open, { concurrency: OPEN_BATCH }),
            (opened) =>
              Effect.forEach(opened, (prepared) =>
                prepared._tag === "Sent"
                  ? Effect.zipRight(
                    session.send(requestFor(prepared.item.name, options.digests, prepared.held)),
                    Queue.offer(pipeline, prepared)
                  )
                  : Queue.offer(pipeline, prepared), { discard: true })
          ), { discard: true }).pipe(
            Effect.catchAll((error) => Queue.offer(pipeline, { _tag: "Cut", error }))
          )
        yield* Effect.forkScoped(sender)

        for (const _ of todo) {
          const prepared = yield* Queue.take(pipeline)
          // A send that failed ends the round as a lost connection would.
          if (prepared._tag === "Cut") return { finished, cut: prepared.error } satisfies Round
          if (prepared._tag === "Unopened") {
            failed.push({ ...prepared.item, error: prepared.error })
            finished.add(prepared.item)
            continue
          }
          const { held, item, partial, scope } = prepared
          const receiving = {
            name: item.name,
            digests: options.digests,
            notify: options.notify,
            track: (head: Codec.FileHead) =>
              Effect.sync(() => {
                if (!seen.has(item)) {
                  seen.add(item)
                  bytesTotal += head.size
                }
                progress.advance(head.start)
                return progress
              })
          }
          const result = yield* Effect.either(receiveInto(session, receiving, partial, held)).pipe(
            Effect.ensuring(Scope.close(scope, Exit.void))
          )
          if (result._tag === "Right") {
            saved.push({ name: item.name, path: result.right.path, size: result.right.size })
            finished.add(item)
            filesDone++
            continue
          }
          const error = result.left
          // Its partial is gone: asked for again, from the start, in the next round.
          if (error._tag === "ResumedCorrupt") {
            yield* options.notify(`the bytes kept of ${item.name} do not match the file: fetching it again`)
            continue
          }
          if (error._tag === "ConnectionError" || error._tag === "ProtocolError") {
            return { finished, cut: error } satisfies Round
          }
          if (error._tag === "TransferError" && isTransient(error, { answeredBefore: true })) {
            return { finished, cut: error } satisfies Round
          }
          failed.push({ ...item, error })
          finished.add(item)
          filesDone++
        }
        return { finished } satisfies Round
      }))

    /** The files left, each with the node to ask now. */
    const byNode = (todo: ReadonlyArray<Wanted>) =>
      Effect.map(
        Effect.forEach(todo, (item) => Effect.map(nodes.pick(item.name), (server) => [server, item] as const)),
        (pairs) => {
          const groups = new Map<string, { server: ServerAddress; items: Array<Wanted> }>()
          for (const [server, item] of pairs) {
            const group = groups.get(Nodes.key(server)) ?? { server, items: [] }
            group.items.push(item)
            groups.set(Nodes.key(server), group)
          }
          return [...groups.values()]
        }
      )

    const driver = yield* Schedule.driver(backoff(options.retries))
    let todo: ReadonlyArray<Wanted> = wanted
    while (todo.length > 0) {
      const rounds = yield* Effect.flatMap(byNode(todo), (groups) =>
        Effect.forEach(
          groups,
          ({ items, server }) => Effect.map(round(server, items), (result) => ({ server, items, ...result })),
          { concurrency: "unbounded" }
        ))
      const done = new Set(rounds.flatMap(({ finished }) => [...finished]))
      todo = todo.filter((item) => !done.has(item))
      // Files of a node that failed go to their next node at once; those of a node cut otherwise
      // wait for the backoff, or fail with what cut them.
      const waiting: Array<{ readonly items: ReadonlyArray<Wanted>; readonly cut: Failure }> = []
      for (const { cut, finished, items, server } of rounds) {
        const left = items.filter((item) => !finished.has(item))
        if (cut === undefined || left.length === 0) continue
        if (Nodes.isNodeFailure(cut) && (yield* nodes.markDown(server, cut.message))) continue
        waiting.push({ items: left, cut })
      }
      if (waiting.length === 0) continue
      if (done.size > 0) yield* driver.reset
      const gone = (items: ReadonlyArray<Wanted>, cut: Failure) => {
        for (const item of items) failed.push({ ...item, error: cut })
        const given = new Set(items)
        todo = todo.filter((item) => !given.has(item))
      }
      for (const { cut, items } of waiting) if (!isTransient(cut, { answeredBefore: true })) gone(items, cut)
      const retrying = waiting.filter(({ cut }) => isTransient(cut, { answeredBefore: true }))
      if (retrying.length === 0) continue
      const retry = yield* Effect.option(driver.next(undefined))
      if (Option.isNone(retry)) {
        for (const { cut, items } of retrying) gone(items, cut)
        continue
      }
      yield* options.notify(`${retryReason(retrying[0]!.cut)}: trying again for the ${todo.length} files left`)
    }
    return { saved, failed } satisfies ManyOutcome
  }))

export const describeSaved = (outcome: ManyOutcome): string => {
  const bytes = outcome.saved.reduce((sum, file) => sum + file.size, 0)
  const all = outcome.saved.length + outcome.failed.length
  return outcome.failed.length === 0
    ? `saved ${outcome.saved.length} files (${formatBytes(bytes)})`
    : `saved ${outcome.saved.length} of ${all} (${formatBytes(bytes)}); ${outcome.failed.length} failed`
}

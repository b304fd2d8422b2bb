/**
 * Workers for tests: no processes, each a pair of promises the test settles. A worker listens at once
 * (or exits at once, as `behaviour` says), drains and exits 0 on SIGTERM or SIGINT, and the probe
 * crashes one, asks one's `stats`, and shows every start and signal.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import {
  type Figures,
  type RunningWorker,
  WorkerExited,
  type WorkerPorts,
  Workers,
  type WorkerSettings
} from "../services/Workers.js"

/** What a started worker does: listen (on ports of its choosing where told 0), or exit before it does. */
export type Behaviour =
  | { readonly _tag: "Listen" }
  | { readonly _tag: "Exit"; readonly code: number | null; readonly signal?: string }

export interface Start {
  readonly settings: WorkerSettings
  /** The clock's time of the start, in milliseconds. */
  readonly at: number
}

export class WorkersProbe extends Context.Tag("ferry/test/WorkersProbe")<WorkersProbe, {
  readonly starts: Effect.Effect<ReadonlyArray<Start>>
  readonly signals: Effect.Effect<ReadonlyArray<{ readonly index: number; readonly signal: string }>>
  /** Ends worker `index` as if it had crashed; nothing if it is not running. */
  readonly crash: (
    index: number,
    exited: { readonly code: number | null; readonly signal?: string }
  ) => Effect.Effect<void>
  /** What worker `index`'s `stats` would hear from the primary: every listening worker's figures. */
  readonly gather: (index: number) => Effect.Effect<ReadonlyArray<Figures>>
}>() {}

export interface MemoryWorkersOptions {
  /** What each start does, by its worker and how many times that worker was started before. */
  readonly behaviour?: (settings: WorkerSettings, attempt: number) => Behaviour
  /** Worker `index`'s figures. */
  readonly figures?: (settings: WorkerSettings) => Figures
  /** Whether a worker goes on running after SIGTERM (as one stuck in its drain would), until SIGKILL. */
  readonly ignoresSigterm?: boolean
}

/** The port a worker told to choose one chooses. */
const chosen = (settings: WorkerSettings): WorkerPorts => ({
  port: settings.port === 0 ? 40000 + settings.index : settings.port,
  metricsPort: settings.metricsPort,
  httpPort: settings.httpPort
})

interface Running {
  readonly exit: (exited: WorkerExited) => Effect.Effect<void>
  readonly gather: Effect.Effect<ReadonlyArray<Figures>>
}

export const make = (options: MemoryWorkersOptions = {}) =>
  Effect.sync(() => {
    const starts: Array<Start> = []
    const signals: Array<{ index: number; signal: string }> = []
    const running = new Map<number, Running>()
    const behaviour = options.behaviour ?? (() => ({ _tag: "Listen" as const }))
    const figuresOf = options.figures ?? ((settings: WorkerSettings) => ({ requests: settings.index + 1 }))

    const start = (settings: WorkerSettings, gather: Effect.Effect<ReadonlyArray<Figures>>) =>
      Effect.gen(function*() {
        const attempt = starts.filter((start) => start.settings.index === settings.index).length
        starts.push({ settings, at: yield* Clock.currentTimeMillis })
        const listening = yield* Deferred.make<WorkerPorts, WorkerExited>()
        const exited = yield* Deferred.make<WorkerExited>()
        const exit = (how: WorkerExited) =>
          Effect.zipRight(Deferred.fail(listening, how), Deferred.succeed(exited, how)).pipe(
            Effect.zipRight(Effect.sync(() => {
              if (running.get(settings.index) === self) running.delete(settings.index)
            }))
          )
        const self: Running = { exit, gather }
        yield* Effect.acquireRelease(
          Effect.sync(() => running.set(settings.index, self)),
          () => exit(new WorkerExited({ code: null, signal: "SIGKILL" }))
        )
        const does = behaviour(settings, attempt)
        if (does._tag === "Listen") yield* Deferred.succeed(listening, chosen(settings))
        else yield* exit(new WorkerExited({ code: does.code, signal: does.signal ?? null }))
        const dead = Deferred.isDone(exited)
        return {
          pid: 1000 + starts.length,
          listening: Deferred.await(listening),
          exited: Deferred.await(exited),
          figures: Effect.map(dead, (isDead) => isDead ? Option.none() : Option.some(figuresOf(settings))),
          signal: (signal) =>
            Effect.flatMap(dead, (isDead) =>
              isDead ? Effect.void : Effect.zipRight(
                Effect.sync(() => signals.push({ index: settings.index, signal })),
                signal === "SIGKILL"
                  ? exit(new WorkerExited({ code: null, signal }))
                  : options.ignoresSigterm === true
                  ? Effect.void
                  : exit(new WorkerExited({ code: 0, signal: null }))
              ))
        } satisfies RunningWorker
      })

    const probe = WorkersProbe.of({
      starts: Effect.sync(() => [...starts]),
      signals: Effect.sync(() => [...signals]),
      crash: (index, how) =>
        Effect.suspend(() =>
          running.get(index)?.exit(new WorkerExited({ code: how.code, signal: how.signal ?? null })) ?? Effect.void
        ),
      gather: (index) => Effect.suspend(() => running.get(index)?.gather ?? Effect.succeed([]))
    })
    return Context.make(Workers, Workers.of({ start })).pipe(Context.add(WorkersProbe, probe))
  })

export const layer = (options: MemoryWorkersOptions = {}): Layer.Layer<Workers | WorkersProbe> =>
  Layer.effectContext(make(options))

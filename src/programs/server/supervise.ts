/**
 * The primary of `--workers N`: it starts the workers (the first alone, so that a configuration they
 * all share is found wrong once and said once), restarts one that exits when it was not asked to,
 * after a backoff, and on SIGINT/SIGTERM (its interruption) drains them all. A worker that cannot
 * start for its configuration ends the server with its exit code; its own line on stderr says why.
 */
import * as Arr from "effect/Array"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import {
  type RunningWorker,
  type WorkerExited,
  type WorkerPorts,
  Workers,
  type WorkerSettings
} from "../../services/Workers.js"

/** The wait before a worker is started again: from 100 ms, doubling, at most 5 s; from the start once it listens. */
export const RESTART_BACKOFF: Schedule.Schedule<Duration.Duration, WorkerExited> = Schedule.exponential("100 millis")
  .pipe(Schedule.union(Schedule.spaced("5 seconds")), Schedule.delays)

/** The server's exit codes that say its configuration is wrong (arguments, DIR, a port, --tokens). */
const CONFIGURATION_CODES: ReadonlySet<number> = new Set([2, 3, 4, 5])

// Past its grace period, how long a draining worker may take to exit before it is killed.
const EXIT_MARGIN = Duration.seconds(5)

/** A worker's first start ended with an exit code that says its configuration is wrong. */
export class WorkerCannotStart extends Data.TaggedError("WorkerCannotStart")<{
  readonly index: number
  readonly code: number
}> {}

export interface SuperviseOptions {
  /** The address the workers listen on, for the log. */
  readonly host: string
  /** What each worker is told, in order. */
  readonly workers: ReadonlyArray<WorkerSettings>
  /** How long each worker has to finish its transfers when it is told to stop. */
  readonly gracePeriod: Duration.DurationInput
  readonly backoff?: Schedule.Schedule<Duration.Duration, WorkerExited>
}

/** Tells a worker to stop and waits for it to have drained; one that outlives its grace period is killed. */
const drain = (worker: RunningWorker, bound: Duration.Duration) =>
  Effect.zipRight(
    worker.signal("SIGTERM"),
    // Finalizers run uninterruptibly: the wait must be made interruptible for the timeout to end it.
    Effect.timeoutOption(Effect.interruptible(worker.exited), bound)
  ).pipe(
    Effect.flatMap(Option.match({
      onSome: () => Effect.void,
      onNone: () =>
        Effect.logWarning(`worker did not exit within ${Duration.format(bound)} of SIGTERM: killed`).pipe(
          Effect.zipRight(worker.signal("SIGKILL")),
          Effect.zipRight(worker.exited)
        )
    }))
  )

export const supervise = Effect.fn("supervise")(function*(options: SuperviseOptions) {
  const workers = yield* Workers
  const backoff = options.backoff ?? RESTART_BACKOFF
  const drainBound = Duration.sum(Duration.decode(options.gracePeriod), EXIT_MARGIN)
  // The workers listening now, by index: the ones a `stats` hears from.
  const listening = new Map<number, RunningWorker>()
  const gather = Effect.suspend(() =>
    Effect.forEach(listening.values(), (worker) => worker.figures, { concurrency: "unbounded" })
  ).pipe(Effect.map(Arr.getSomes))
  const firstListen = yield* Effect.forEach(
    options.workers,
    () => Deferred.make<{ readonly ports: WorkerPorts; readonly pid: number }>()
  )

  /** Runs one worker until it exits, `onListen` once it listens: whether it got to, and how it ended. */
  const runOnce = (
    settings: WorkerSettings,
    onListen: (worker: RunningWorker, ports: WorkerPorts) => Effect.Effect<void>
  ) =>
    Effect.scoped(Effect.gen(function*() {
      const worker = yield* workers.start(settings, gather)
      // Also run after an exit of its own, when there is nothing left to drain.
      yield* Effect.addFinalizer(() => drain(worker, drainBound))
      const ports = yield* Effect.either(worker.listening)
      if (Either.isLeft(ports)) return { ports: Option.none<WorkerPorts>(), exited: ports.left, pid: worker.pid }
      const exited = yield* Effect.acquireUseRelease(
        Effect.sync(() => listening.set(settings.index, worker)),
        () =>
          Deferred.succeed(firstListen[settings.index]!, { ports: ports.right, pid: worker.pid }).pipe(
            Effect.zipRight(onListen(worker, ports.right)),
            Effect.zipRight(worker.exited)
          ),
        () => Effect.sync(() => listening.delete(settings.index))
      )
      return { ports: Option.some(ports.right), exited, pid: worker.pid }
    }))

  /** Keeps worker `index` running, on the ports it first got, until interrupted. */
  const keep = Effect.fn("keep")(function*(initial: WorkerSettings, failedFirst: Effect.Effect<void> = Effect.void) {
    const index = initial.index
    const restarts = yield* Schedule.driver(backoff)
    let settings = initial
    for (let attempt = 0;; attempt++) {
      const restarted = attempt > 0
      const run = yield* runOnce(settings, (worker, ports) =>
        Effect.zipRight(
          restarts.reset,
          restarted
            ? Effect.logInfo(`worker ${index} restarted on ${options.host}:${ports.port}`).pipe(
              Effect.annotateLogs({ pid: worker.pid })
            )
            : Effect.void
        ))
      if (Option.isSome(run.ports)) {
        // A port 0 is a port the worker chose: it keeps it when restarted.
        settings = { ...settings, ...run.ports.value }
      } else if (attempt === 0) {
        const code = run.exited.code
        if (code !== null && CONFIGURATION_CODES.has(code)) return yield* new WorkerCannotStart({ index, code })
        yield* failedFirst
      }
      yield* Effect.logWarning(`worker ${index} exited: ${run.exited.message}`).pipe(
        Effect.annotateLogs({ pid: run.pid, ...(Option.isNone(run.ports) ? { before: "listening" } : {}) })
      )
      // The schedule never ends.
      const delay = yield* Effect.orDie(restarts.next(run.exited))
      yield* Effect.logInfo(`restarting worker ${index}`).pipe(
        Effect.annotateLogs({ after: Duration.format(delay) })
      )
    }
  })

  const announce = Effect.forEach(firstListen, Deferred.await).pipe(
    Effect.flatMap((all) =>
      Effect.logInfo(
        `${all.length} workers listening on ${all.map(({ ports }) => `${options.host}:${ports.port}`).join(", ")}`
      ).pipe(Effect.annotateLogs({ pids: all.map(({ pid }) => pid).join(" ") }))
    )
  )
  const [first, ...others] = options.workers
  if (first === undefined) return yield* Effect.dieMessage("supervise: no workers")
  // The others once the first has listened, or failed to for a reason that is not its configuration.
  const firstFailed = yield* Deferred.make<void>()
  const firstTried = Effect.raceFirst(Effect.asVoid(Deferred.await(firstListen[0]!)), Deferred.await(firstFailed))
  return yield* Effect.all([
    keep(first, Deferred.succeed(firstFailed, undefined)),
    Effect.zipRight(
      firstTried,
      Effect.forEach(others, (settings) => keep(settings), {
        concurrency: "unbounded",
        discard: true
      })
    ),
    Effect.zipRight(announce, Effect.never)
  ], { concurrency: "unbounded", discard: true }).pipe(Effect.zipRight(Effect.never))
}, Effect.onInterrupt(() => Effect.logInfo("all workers stopped")))

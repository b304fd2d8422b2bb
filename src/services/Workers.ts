/**
 * Worker processes, as the primary of `--workers N` sees them: each started with what it is told
 * (its ports, its share of the memory), saying where it listens once it does, asked for its figures,
 * signalled, and watched until it exits.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** What `stats` reports, by name: counters, and the state of the cache, locks and files. */
export type Figures = Readonly<Record<string, number>>

/** Where a worker listens: 0 for a port of its choosing, before it has chosen. */
export interface WorkerPorts {
  readonly port: number
  readonly metricsPort?: number | undefined
  readonly httpPort?: number | undefined
}

/** What a worker is told at start, on top of the command line it shares with the primary. */
export interface WorkerSettings extends WorkerPorts {
  readonly index: number
  readonly cacheSize: number
  readonly streamBuffers: number
}

/** How a worker process ended: its exit code, or the signal that killed it. */
export class WorkerExited extends Data.TaggedError("WorkerExited")<{
  readonly code: number | null
  readonly signal: string | null
}> {
  override get message() {
    return this.signal === null ? `exit code ${this.code}` : `signal ${this.signal}`
  }
}

export interface RunningWorker {
  readonly pid: number
  /** Where it listens, once it says so; fails with how it ended if it exits first. */
  readonly listening: Effect.Effect<WorkerPorts, WorkerExited>
  /** Completes once the process has exited. */
  readonly exited: Effect.Effect<WorkerExited>
  /** Its figures now; none if it does not answer within a moment (it may be dying). */
  readonly figures: Effect.Effect<Option.Option<Figures>>
  /** Sends it a signal; nothing once it has exited. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
}

export class Workers extends Context.Tag("ferry/Workers")<Workers, {
  /**
   * Starts a worker; `gather` answers its requests for every worker's figures (for a `stats` it is
   * asked). One still running when the scope closes is killed.
   */
  readonly start: (
    settings: WorkerSettings,
    gather: Effect.Effect<ReadonlyArray<Figures>>
  ) => Effect.Effect<RunningWorker, never, Scope.Scope>
}>() {}

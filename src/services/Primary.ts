/**
 * A worker's line to the primary process that started it (`--workers N`): where it says it listens,
 * how it answers for its figures, and how a `stats` it is asked speaks for every worker.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Figures, WorkerPorts } from "./Workers.js"

export class Primary extends Context.Tag("ferry/Primary")<Primary, {
  /** Which worker this is, from 0. */
  readonly index: number
  /** Tells the primary this worker listens, and on which ports. */
  readonly listening: (ports: WorkerPorts) => Effect.Effect<void>
  /** Answers the primary's requests for this worker's figures with `own`, until the scope closes. */
  readonly answer: (own: Effect.Effect<Figures>) => Effect.Effect<void, never, Scope.Scope>
  /** Every worker's figures, this one's included, as the primary gathers them: those that answered in time. */
  readonly gather: Effect.Effect<ReadonlyArray<Figures>>
  /** Completes when the primary is gone (the channel to it closed): the worker then drains and exits. */
  readonly gone: Effect.Effect<void>
}>() {}

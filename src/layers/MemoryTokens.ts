/**
 * Tokens held in memory, for tests: none (open to anyone) until replaced, as a reload of the
 * tokens file replaces them, by the `MemoryTokensControl` the layer provides beside them.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { type Grant, Tokens } from "../services/Tokens.js"

export class MemoryTokensControl extends Context.Tag("ferry/MemoryTokens/Control")<MemoryTokensControl, {
  /** From now on, these grants are required (`None`: open to anyone again). */
  readonly replace: (grants: Option.Option<ReadonlyArray<Grant>>) => Effect.Effect<void>
}>() {}

export const layer = (initial: Option.Option<ReadonlyArray<Grant>> = Option.none()) =>
  Layer.effectContext(Effect.gen(function*() {
    const table = (grants: Option.Option<ReadonlyArray<Grant>>) =>
      Option.map(grants, (grants) => ({ grants, source: "memory" }))
    const current = yield* Ref.make(table(initial))
    return Context.make(Tokens, Tokens.of({ current: Ref.get(current) })).pipe(
      Context.add(MemoryTokensControl, { replace: (grants) => Ref.set(current, table(grants)) })
    )
  }))

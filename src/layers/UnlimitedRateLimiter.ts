/** The RateLimiter when no limit is set: connections as they are, so a write costs nothing more. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { RateLimiter } from "../services/RateLimiter.js"

export const layer: Layer.Layer<RateLimiter> = Layer.succeed(RateLimiter, RateLimiter.of({ pace: Effect.succeed }))

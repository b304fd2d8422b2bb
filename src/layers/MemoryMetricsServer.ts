/**
 * A MetricsServer for tests: no port, and a scraper that asks the server directly what the HTTP
 * listener would answer with.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { MetricsServer, type Probes } from "../services/MetricsServer.js"

export class MetricsScraper extends Context.Tag("ferry/test/MetricsScraper")<MetricsScraper, {
  /** What the server handed its listener: none before it serves, nor once it has stopped. */
  readonly probes: Effect.Effect<Option.Option<Probes>>
}>() {}

export const make = Effect.sync(() => {
  let current: Probes | undefined
  return Context.make(
    MetricsServer,
    MetricsServer.of({
      address: { host: "memory", port: 0 },
      serve: (probes) =>
        Effect.acquireUseRelease(
          Effect.sync(() => current = probes),
          () => Effect.never,
          () => Effect.sync(() => current = undefined)
        )
    })
  ).pipe(Context.add(MetricsScraper, { probes: Effect.sync(() => Option.fromNullable(current)) }))
})

export const layer: Layer.Layer<MetricsServer | MetricsScraper> = Layer.effectContext(make)

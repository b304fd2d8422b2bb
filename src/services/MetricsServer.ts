/**
 * The HTTP listener beside the native port, for monitoring: `/metrics` for Prometheus to scrape,
 * `/healthz` and `/readyz` for a supervisor's probes.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { ServerAddress } from "./SocketServer.js"

/** What the listener answers with, from the server it reports on. */
export interface Probes {
  /** The metrics in Prometheus's text format. */
  readonly metrics: Effect.Effect<string>
  /** Whether the server accepts connections: false while it drains on shutdown. */
  readonly ready: Effect.Effect<boolean>
}

export class MetricsServer extends Context.Tag("ferry/MetricsServer")<MetricsServer, {
  /** Where it listens (the real port when it was asked for port 0). */
  readonly address: ServerAddress
  /**
   * Answers `/metrics` and `/readyz` from `probes` until interrupted; before and after, they
   * answer 503. `/healthz` answers 200 for as long as the listener is open.
   */
  readonly serve: (probes: Probes) => Effect.Effect<never>
}>() {}

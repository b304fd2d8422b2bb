/**
 * The HTTP door's side of the server: its requests answered by `answer`, its connections counted
 * with the native port's, until interrupted, when it drains as the native port does.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { type ConnectionEvent, HttpDoor } from "../../services/HttpDoor.js"
import { count, ServerMetrics } from "../server/ServerMetrics.js"
import { answer, type HttpOptions } from "./answer.js"
import { makeImmediateHit } from "./immediateHit.js"

export interface ServeHttpOptions extends HttpOptions {
  readonly gracePeriod: Duration.DurationInput
}

const counted = (event: ConnectionEvent) =>
  Effect.flatMap(ServerMetrics, (metrics) => {
    switch (event) {
      case "opened":
        return Effect.zipRight(count("connections"), Metric.increment(metrics.activeConnections))
      case "closed":
        return Metric.modify(metrics.activeConnections, -1)
      case "turnedAway":
        return Effect.zipRight(count("turnedAway"), Effect.logWarning("http: too many connections: turned away"))
      case "addressTurnedAway":
        return Effect.zipRight(
          count("turnedAway"),
          Effect.logWarning("http: too many connections from this address: turned away")
        )
      case "timedOut":
        return count("timeouts")
    }
  })

export const serveHttp = (options: ServeHttpOptions) =>
  Effect.gen(function*() {
    const door = yield* HttpDoor
    const immediate = yield* makeImmediateHit
    return yield* door.serve(answer(options), { gracePeriod: options.gracePeriod, onConnection: counted, immediate })
  })

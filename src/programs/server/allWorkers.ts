/**
 * `stats` with `--workers N`: the worker asked speaks for them all, with the figures of every worker
 * that answered added up (the longest uptime, not a sum), and `workers`, how many did.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Primary } from "../../services/Primary.js"
import type { Figures } from "../../services/Workers.js"

/** Figures added up, name by name; the uptime is the longest, not a sum. */
export const sumFigures = (all: ReadonlyArray<Figures>): Record<string, number> => {
  const total: Record<string, number> = {}
  for (const figures of all) {
    for (const [name, value] of Object.entries(figures)) {
      total[name] = name === "uptimeSeconds" ? Math.max(total[name] ?? 0, value) : (total[name] ?? 0) + value
    }
  }
  return total
}

/** What `stats` answers: `own` in a server of one process; every worker's, added up, in a worker. */
export const statsOfAll = <R>(own: Effect.Effect<Figures, never, R>): Effect.Effect<Figures, never, R> =>
  Effect.flatMap(Effect.serviceOption(Primary), (primary) =>
    Option.match(primary, {
      onNone: () => own,
      onSome: (primary) =>
        Effect.flatMap(primary.gather, (all) =>
          // None when the primary does not answer in time: this worker's own, said to be one worker's.
          all.length === 0
            ? Effect.map(own, (figures) => ({ workers: 1, ...figures }))
            : Effect.succeed({ workers: all.length, ...sumFigures(all) }))
    }))

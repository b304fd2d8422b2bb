import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { planWorkers } from "../../src/cli/serverWorkers.js"
import { statsOfAll, sumFigures } from "../../src/programs/server/allWorkers.js"
import { Primary } from "../../src/services/Primary.js"
import type { Figures } from "../../src/services/Workers.js"

const primaryHearing = (all: ReadonlyArray<Figures>) =>
  Effect.provideService(Primary, {
    index: 0,
    listening: () => Effect.void,
    answer: () => Effect.void,
    gather: Effect.succeed(all),
    gone: Effect.never
  })

describe("stats with workers", () => {
  it("adds the figures up, the uptime the longest", () => {
    expect(sumFigures([{ requests: 2, uptimeSeconds: 5 }, { requests: 3, uptimeSeconds: 9, loads: 1 }])).toEqual({
      requests: 5,
      uptimeSeconds: 9,
      loads: 1
    })
  })

  it.effect("a worker answers for every worker that answered the primary, and says how many", () =>
    Effect.gen(function*() {
      const own = Effect.succeed({ requests: 1 })
      expect(yield* statsOfAll(own)).toEqual({ requests: 1 })
      expect(yield* primaryHearing([{ requests: 1 }, { requests: 4 }])(statsOfAll(own))).toEqual({
        workers: 2,
        requests: 5
      })
      // A primary that does not answer: the worker's own figures, as one worker's.
      expect(yield* primaryHearing([])(statsOfAll(own))).toEqual({ workers: 1, requests: 1 })
    }))
})

describe("planWorkers", () => {
  const args = { port: 9098, cacheSize: 1000, streamBuffers: 2 ** 20, metrics: Option.none(), http: Option.none() }

  it("counts the ports up from PORT, --metrics and --http, and shares the memory", () => {
    const plan = planWorkers({ ...args, metrics: Option.some({ host: "localhost", port: 9100 }) }, 3)
    expect(plan).toEqual(Either.right([0, 1, 2].map((index) => ({
      index,
      port: 9098 + index,
      metricsPort: 9100 + index,
      httpPort: undefined,
      cacheSize: 333,
      streamBuffers: 2 ** 20
    }))))
  })

  it("gives every worker port 0 for PORT 0, and refuses a range past 65535", () => {
    expect(Either.map(planWorkers({ ...args, port: 0 }, 2), (plan) => plan.map(({ port }) => port))).toEqual(
      Either.right([0, 0])
    )
    expect(Either.isLeft(planWorkers({ ...args, port: 65535 }, 2))).toBe(true)
    expect(Either.isLeft(planWorkers({ ...args, http: Option.some({ host: "h", port: 65535 }) }, 2))).toBe(true)
  })
})

/**
 * What the soak's workers did, counted as they go: requests by kind and outcome, bytes and files
 * checked against their source, and every unexpected error (the first few kept to show).
 */
import * as Effect from "effect/Effect"

const KEPT_ERRORS = 10

export interface TallySnapshot {
  readonly outcomes: ReadonlyMap<string, ReadonlyMap<string, number>>
  readonly requests: number
  readonly bytesVerified: number
  readonly filesVerified: number
  readonly unexpectedCount: number
  /** Unexpected errors by kind of failure. */
  readonly unexpectedByCause: ReadonlyMap<string, number>
  readonly unexpected: ReadonlyArray<string>
  /** Milliseconds to the first bytes of an answer, by what was waited for. */
  readonly latencies: ReadonlyMap<string, ReadonlyArray<number>>
}

export interface Tally {
  readonly outcome: (kind: string, outcome: string) => Effect.Effect<void>
  readonly verified: (bytes: number) => Effect.Effect<void>
  readonly unexpected: (kind: string, cause: string, detail: string) => Effect.Effect<void>
  readonly latency: (what: string, millis: number) => Effect.Effect<void>
  readonly snapshot: Effect.Effect<TallySnapshot>
}

// Plain counters changed in `Effect.sync`: on one JavaScript thread each change is atomic, and the
// workers only ever add to them.
export const make = Effect.sync((): Tally => {
  const outcomes = new Map<string, Map<string, number>>()
  let requests = 0
  let bytesVerified = 0
  let filesVerified = 0
  let unexpectedCount = 0
  const unexpectedByCause = new Map<string, number>()
  const unexpected: Array<string> = []
  const latencies = new Map<string, Array<number>>()
  const count = (kind: string, outcome: string) => {
    const byOutcome = outcomes.get(kind) ?? new Map<string, number>()
    outcomes.set(kind, byOutcome)
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1)
    requests++
  }
  return {
    outcome: (kind, outcome) => Effect.sync(() => count(kind, outcome)),
    verified: (bytes) =>
      Effect.sync(() => {
        bytesVerified += bytes
        filesVerified++
      }),
    unexpected: (kind, cause, detail) =>
      Effect.sync(() => {
        count(kind, "UNEXPECTED")
        unexpectedCount++
        unexpectedByCause.set(cause, (unexpectedByCause.get(cause) ?? 0) + 1)
        if (unexpected.length < KEPT_ERRORS) unexpected.push(`${kind}: ${detail}`)
      }),
    latency: (what, millis) =>
      Effect.sync(() => {
        const list = latencies.get(what) ?? []
        latencies.set(what, list)
        list.push(millis)
      }),
    snapshot: Effect.sync(() => ({
      outcomes: new Map([...outcomes].map(([kind, byOutcome]) => [kind, new Map(byOutcome)])),
      requests,
      bytesVerified,
      filesVerified,
      unexpectedCount,
      unexpectedByCause: new Map(unexpectedByCause),
      unexpected: [...unexpected],
      latencies: new Map([...latencies].map(([what, list]) => [what, [...list]]))
    }))
  }
})

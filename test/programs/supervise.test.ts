import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as MemoryWorkers from "../../src/layers/MemoryWorkers.js"
import { WorkersProbe } from "../../src/layers/MemoryWorkers.js"
import { supervise, WorkerCannotStart } from "../../src/programs/server/supervise.js"
import type { WorkerSettings } from "../../src/services/Workers.js"

const settings = (count: number, port = 0): ReadonlyArray<WorkerSettings> =>
  Array.from({ length: count }, (_, index) => ({
    index,
    port: port === 0 ? 0 : port + index,
    cacheSize: 1000,
    streamBuffers: 2 ** 20
  }))

const run = (count: number, port = 0) =>
  Effect.fork(supervise({ host: "127.0.0.1", workers: settings(count, port), gracePeriod: "10 seconds" }))

/** Lets the supervisor's fibers run (nothing here waits on the clock) until `done` holds of what `probe` shows. */
const until = <A, R>(probe: Effect.Effect<A, never, R>, done: (value: A) => boolean) =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 1000; turn++) {
      const value = yield* probe
      if (done(value)) return value
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage("the supervisor never got there")
  })

const failure = <A, E>(exit: Exit.Exit<A, E>) => Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

const startsOf = (index: number) =>
  Effect.map(
    Effect.flatMap(WorkersProbe, (probe) => probe.starts),
    (starts) => starts.filter((start) => start.settings.index === index)
  )

describe("supervise", () => {
  it.scoped("restarts a crashed worker on its port, after a backoff that doubles up to 5 s while it cannot start", () =>
    Effect.gen(function*() {
      const probe = yield* WorkersProbe
      const fiber = yield* run(2)
      yield* until(probe.starts, (starts) => starts.length === 2)

      yield* probe.crash(1, { code: null, signal: "SIGKILL" })
      yield* TestClock.adjust("99 millis")
      expect(yield* startsOf(1)).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* until(startsOf(1), (starts) => starts.length === 2)

      // Attempts 1 to 8 exit at once; the 9th listens.
      yield* TestClock.adjust("1 minute")
      const starts = yield* until(startsOf(1), (starts) => starts.length === 10)
      const waits = starts.slice(1).map((start, i) => start.at - starts[i]!.at)
      expect(waits).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000])
      // Port 0 was a port of its own choosing: it is started again on that one.
      expect(starts.slice(1).map((start) => start.settings.port)).toEqual(Array(9).fill(40001))
      expect(yield* startsOf(0)).toHaveLength(1)

      // Listening again, it starts the backoff afresh.
      yield* probe.crash(1, { code: 1 })
      yield* TestClock.adjust("100 millis")
      yield* until(startsOf(1), (starts) => starts.length === 11)
      expect(fiber.unsafePoll()).toBeNull()
    }).pipe(Effect.provide(MemoryWorkers.layer({
      behaviour: (settings, attempt) =>
        settings.index === 1 && attempt >= 1 && attempt <= 8 ? { _tag: "Exit", code: 1 } : { _tag: "Listen" }
    }))))

  it.scoped.each([2, 3, 4, 5])(
    "a worker whose first start exits %i ends the server with that code; the others drain",
    (code) =>
      Effect.gen(function*() {
        const probe = yield* WorkersProbe
        const exit = yield* Effect.flatMap(run(3), Fiber.await)
        expect(failure(exit)).toEqual(Option.some(new WorkerCannotStart({ index: 2, code })))
        const signals = [...yield* probe.signals].sort((a, b) => a.index - b.index)
        expect(signals).toEqual([{ index: 0, signal: "SIGTERM" }, { index: 1, signal: "SIGTERM" }])
      }).pipe(Effect.provide(MemoryWorkers.layer({
        behaviour: (settings) => settings.index === 2 ? { _tag: "Exit", code } : { _tag: "Listen" }
      })))
  )

  it.scoped("a configuration shared by all is found wrong by the first worker alone", () =>
    Effect.gen(function*() {
      const probe = yield* WorkersProbe
      const exit = yield* Effect.flatMap(run(4), Fiber.await)
      expect(failure(exit)).toEqual(Option.some(new WorkerCannotStart({ index: 0, code: 3 })))
      expect((yield* probe.starts).map((start) => start.settings.index)).toEqual([0])
    }).pipe(Effect.provide(MemoryWorkers.layer({ behaviour: () => ({ _tag: "Exit", code: 3 }) }))))

  it.scoped("a worker that exits with a configuration's code after it has run once is restarted", () =>
    Effect.gen(function*() {
      const probe = yield* WorkersProbe
      const fiber = yield* run(2, 9000)
      yield* until(probe.starts, (starts) => starts.length === 2)
      yield* probe.crash(0, { code: 4 })
      yield* TestClock.adjust("100 millis")
      const starts = yield* until(startsOf(0), (starts) => starts.length === 2)
      expect(starts[1]!.settings.port).toBe(9000)
      expect(fiber.unsafePoll()).toBeNull()
    }).pipe(Effect.provide(MemoryWorkers.layer())))

  it.scoped("interrupted (SIGTERM, SIGINT), it tells every worker to stop, waits for them, and restarts none", () =>
    Effect.gen(function*() {
      const probe = yield* WorkersProbe
      const fiber = yield* run(3)
      yield* until(probe.starts, (starts) => starts.length === 3)
      yield* Fiber.interrupt(fiber)
      const signals = yield* probe.signals
      expect(signals.map(({ index }) => index).sort()).toEqual([0, 1, 2])
      expect(signals.every(({ signal }) => signal === "SIGTERM")).toBe(true)
      yield* TestClock.adjust("1 minute")
      expect(yield* probe.starts).toHaveLength(3)
    }).pipe(Effect.provide(MemoryWorkers.layer())))

  it.scoped("a worker still running its grace period and 5 s after SIGTERM is killed", () =>
    Effect.gen(function*() {
      const probe = yield* WorkersProbe
      const fiber = yield* run(1)
      yield* until(probe.starts, (starts) => starts.length === 1)
      const stopping = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* TestClock.adjust("14999 millis")
      expect(yield* probe.signals).toEqual([{ index: 0, signal: "SIGTERM" }])
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(stopping)
      expect(yield* probe.signals).toEqual([{ index: 0, signal: "SIGTERM" }, { index: 0, signal: "SIGKILL" }])
    }).pipe(Effect.provide(MemoryWorkers.layer({ ignoresSigterm: true }))))

  it.scoped("a worker's stats hears from every listening worker, and not from one being restarted", () =>
    Effect.gen(function*() {
      const probe = yield* WorkersProbe
      yield* run(3)
      yield* until(probe.starts, (starts) => starts.length === 3)
      expect(yield* probe.gather(1)).toEqual([{ requests: 1 }, { requests: 2 }, { requests: 3 }])
      yield* probe.crash(2, { code: null, signal: "SIGKILL" })
      expect(yield* probe.gather(0)).toEqual([{ requests: 1 }, { requests: 2 }])
    }).pipe(Effect.provide(MemoryWorkers.layer())))
})

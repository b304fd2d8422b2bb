/** The in-memory network: bytes both ways, backpressure, ends and disconnects, and how `serve` runs and stops. */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as MemoryNetwork from "../../src/layers/MemoryNetwork.js"
import type { Connection } from "../../src/services/Connection.js"
import { ConnectionError } from "../../src/services/Connection.js"
import { SocketClient } from "../../src/services/SocketClient.js"
import type { ServerConnection } from "../../src/services/SocketServer.js"
import { SocketServer } from "../../src/services/SocketServer.js"

const bytes = (text: string) => new TextEncoder().encode(text)

/** Everything the peer sends until it ends, as text. */
const readAll = (connection: Connection) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    while (true) {
      const chunk = yield* connection.read
      if (Option.isNone(chunk)) return new TextDecoder().decode(Buffer.concat(chunks))
      chunks.push(chunk.value)
    }
  })

/** Sends back everything it receives, then ends. */
const echo = (connection: Connection) =>
  Effect.gen(function*() {
    while (true) {
      const chunk = yield* connection.read
      if (Option.isNone(chunk)) return yield* connection.end
      yield* connection.write(chunk.value)
    }
  }).pipe(Effect.orDie)

const serve = <R>(
  handle: (connection: ServerConnection) => Effect.Effect<void, never, R>,
  gracePeriod: Duration.DurationInput = 0
) => Effect.flatMap(SocketServer, (server) => Effect.forkScoped(server.serve(handle, { gracePeriod })))

const connect = Effect.flatMap(SocketClient, (client) => client.connect("anywhere", 1))

/** Polls `condition`, letting other fibers run in between, until it holds. */
const waitUntil = (condition: Effect.Effect<boolean>) =>
  Effect.zipRight(Effect.yieldNow(), condition).pipe(Effect.repeat({ until: (holds) => holds }))

const closedError = (exit: Exit.Exit<unknown, ConnectionError>) => {
  expect(exit).toStrictEqual(Exit.fail(new ConnectionError({ reason: "Closed" })))
}

/** Each test on a network of its own, its connections closed before the network is. */
const onNetwork = <A, E>(test: Effect.Effect<A, E, SocketServer | SocketClient | Scope.Scope>) =>
  test.pipe(Effect.scoped, Effect.provide(MemoryNetwork.layer))

describe("MemoryNetwork", () => {
  it.effect("carries bytes both ways, several chunks in one write, and names its peers", () =>
    onNetwork(Effect.gen(function*() {
      const peers = yield* Ref.make<ReadonlyArray<string>>([])
      yield* serve((connection) =>
        Effect.zipRight(Ref.update(peers, (all) => [...all, connection.peer]), echo(connection))
      )
      const first = yield* connect
      yield* first.write(bytes("a"), bytes("bc"), bytes("def"))
      yield* first.end
      expect(yield* readAll(first)).toBe("abcdef")
      expect(first.peer).toBe("memory:0")

      const second = yield* connect
      yield* second.end
      expect(yield* readAll(second)).toBe("")
      expect(yield* Ref.get(peers)).toEqual(["memory:1", "memory:2"])
      expect((yield* SocketServer).address).toEqual({ host: "memory", port: 0 })
    })))

  it.effect("read returns the buffered chunks, then None once the peer has ended", () =>
    onNetwork(Effect.gen(function*() {
      yield* serve((connection) =>
        Effect.zipRight(connection.write(bytes("one"), bytes("two")), connection.end).pipe(Effect.orDie)
      )
      const connection = yield* connect
      expect(yield* connection.read).toEqual(Option.some(bytes("one")))
      expect(yield* connection.read).toEqual(Option.some(bytes("two")))
      expect(yield* connection.read).toEqual(Option.none())
      expect(yield* connection.read).toEqual(Option.none())
    })))

  it.effect("a read deadline: not pushed back by trickling bytes, followed by a waiting read, removable", () =>
    onNetwork(Effect.gen(function*() {
      const accepted = yield* Deferred.make<ServerConnection>()
      yield* serve((connection) => Effect.zipRight(Deferred.succeed(accepted, connection), Effect.never))
      const client = yield* connect
      const server = yield* Deferred.await(accepted)
      const timedOut = Exit.fail(new ConnectionError({ reason: "TimedOut" }))

      yield* client.readDeadline("1 second")
      yield* TestClock.adjust(500)
      yield* server.write(bytes("a"))
      expect(yield* client.read).toEqual(Option.some(bytes("a")))
      const reading = yield* Effect.fork(client.read)
      yield* TestClock.adjust(499)
      expect(yield* Fiber.poll(reading)).toEqual(Option.none())
      yield* TestClock.adjust(1)
      expect(yield* Fiber.await(reading)).toStrictEqual(timedOut)
      // Past the deadline, what has arrived is still read; only waiting fails.
      yield* server.write(bytes("b"))
      expect(yield* client.read).toEqual(Option.some(bytes("b")))
      expect(yield* Effect.exit(client.read)).toStrictEqual(timedOut)

      yield* client.readDeadline(undefined)
      const waiting = yield* Effect.fork(client.read)
      yield* TestClock.adjust("1 hour")
      expect(yield* Fiber.poll(waiting)).toEqual(Option.none())
      yield* client.readDeadline(0)
      expect(yield* Fiber.await(waiting)).toStrictEqual(timedOut)
    })))

  it.effect("a written chunk is taken as it was: the writer may reuse its memory once the write completes", () =>
    onNetwork(Effect.gen(function*() {
      yield* serve((connection) =>
        Effect.gen(function*() {
          const buffer = bytes("first")
          yield* connection.write(buffer)
          buffer.set(bytes("again"))
          yield* connection.write(buffer)
          yield* connection.end
        }).pipe(Effect.orDie)
      )
      expect(yield* readAll(yield* connect)).toBe("firstagain")
    })))

  it.effect("a writer waits while its reader does not read, and goes on when it does", () =>
    onNetwork(Effect.gen(function*() {
      const accepted = yield* Deferred.make<ServerConnection>()
      yield* serve((connection) => Effect.zipRight(Deferred.succeed(accepted, connection), Effect.never))
      const client = yield* connect
      const server = yield* Deferred.await(accepted)

      const chunkSize = 1024
      const chunks = Array.from({ length: 100 }, (_, i) => new Uint8Array(chunkSize).fill(i))
      const written = yield* Ref.make(0)
      const writer = yield* Effect.fork(
        Effect.forEach(chunks, (chunk) => Effect.zipRight(server.write(chunk), Ref.update(written, (n) => n + 1)))
      )

      // The write that fills the buffer is taken but waits: it has not completed.
      const fullAt = MemoryNetwork.bufferSize / chunkSize
      yield* waitUntil(Effect.map(Ref.get(written), (n) => n === fullAt - 1))
      yield* TestClock.adjust(0)
      expect(yield* Ref.get(written)).toBe(fullAt - 1)
      expect(yield* Fiber.poll(writer)).toEqual(Option.none())

      expect(yield* client.read).toEqual(Option.some(chunks[0]))
      yield* waitUntil(Effect.map(Ref.get(written), (n) => n === fullAt))
      yield* TestClock.adjust(0)
      expect(yield* Ref.get(written)).toBe(fullAt)

      for (const chunk of chunks.slice(1)) {
        expect(yield* client.read).toEqual(Option.some(chunk))
      }
      yield* Fiber.join(writer)
    })))

  it.effect("a side that goes away without ending fails the other side's pending and later reads and writes", () =>
    onNetwork(Effect.gen(function*() {
      const accepted = yield* Deferred.make<ServerConnection>()
      yield* serve((connection) => Effect.zipRight(Deferred.succeed(accepted, connection), Effect.never))
      const { client, pendingRead, pendingWrite } = yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* connect
        yield* client.write(bytes("never read"))
        const server = yield* Deferred.await(accepted)
        const pendingRead = yield* Effect.fork(Effect.zipRight(server.read, server.read))
        const pendingWrite = yield* Effect.fork(server.write(new Uint8Array(MemoryNetwork.bufferSize)))
        yield* TestClock.adjust(0)
        expect(yield* Fiber.poll(pendingRead)).toEqual(Option.none())
        expect(yield* Fiber.poll(pendingWrite)).toEqual(Option.none())
        return { client, pendingRead, pendingWrite }
      }))
      closedError(yield* Fiber.await(pendingRead))
      closedError(yield* Fiber.await(pendingWrite))
      const server = yield* Deferred.await(accepted)
      closedError(yield* Effect.exit(server.read))
      closedError(yield* Effect.exit(server.write(bytes("late"))))
      closedError(yield* Effect.exit(server.end))
      closedError(yield* Effect.exit(client.read))
    })))

  it.effect("a handler that returns without ending leaves its client a Closed connection", () =>
    onNetwork(Effect.gen(function*() {
      yield* serve((connection) => connection.write(bytes("partial")).pipe(Effect.orDie))
      const client = yield* connect
      closedError(yield* Effect.exit(readAll(client)))
    })))

  it.effect("connections made before serve starts are kept and served", () =>
    onNetwork(Effect.gen(function*() {
      const early = yield* connect
      yield* early.write(bytes("early"))
      yield* early.end
      yield* serve(echo)
      expect(yield* readAll(early)).toBe("early")
    })))

  it.effect("runs every connection's handler in a fiber of its own", () =>
    onNetwork(Effect.gen(function*() {
      const count = 50
      const arrived = yield* Ref.make(0)
      const allArrived = yield* Deferred.make<void>()
      // No handler answers before all of them are running at once.
      yield* serve((connection) =>
        Effect.gen(function*() {
          if ((yield* Ref.updateAndGet(arrived, (n) => n + 1)) === count) yield* Deferred.succeed(allArrived, undefined)
          yield* Deferred.await(allArrived)
          yield* echo(connection)
        })
      )
      const answers = yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
        Effect.gen(function*() {
          const connection = yield* connect
          yield* connection.write(bytes(`client ${i}`))
          yield* connection.end
          return yield* readAll(connection)
        }), { concurrency: "unbounded" })
      expect(answers).toEqual(Array.from({ length: count }, (_, i) => `client ${i}`))
    })))

  it.effect("a handler that dies is logged, and the next connection is served", () =>
    Effect.gen(function*() {
      const errors: Array<string> = []
      const logger = Logger.make(({ cause, logLevel, message }) => {
        if (logLevel._tag === "Error") errors.push(`${String(message)} ${Cause.pretty(cause)}`)
      })
      yield* onNetwork(Effect.gen(function*() {
        yield* serve((connection) =>
          Effect.gen(function*() {
            const request = yield* connection.read
            if (Option.isSome(request) && new TextDecoder().decode(request.value) === "die") {
              return yield* Effect.die(new Error("boom"))
            }
            yield* connection.write(bytes("alive"))
            yield* connection.end
          }).pipe(Effect.orDie)
        )
        const doomed = yield* connect
        yield* doomed.write(bytes("die"))
        closedError(yield* Effect.exit(doomed.read))

        const next = yield* connect
        yield* next.write(bytes("hello"))
        expect(yield* readAll(next)).toBe("alive")
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toContain("boom")
    }))

  it.effect("stopping signals draining, refuses new connections, and interrupts what outlasts the grace period", () =>
    onNetwork(Effect.gen(function*() {
      const started = yield* Ref.make(0)
      const finished = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const server = yield* SocketServer
      expect(yield* server.accepting).toBe(false)
      const serving = yield* Effect.fork(server.serve((connection) =>
        Effect.gen(function*() {
          const request = yield* Effect.orDie(readAll(connection))
          yield* Ref.update(started, (n) => n + 1)
          yield* connection.draining
          if (request === "quick") {
            // Within the grace period, in TestClock time.
            yield* Effect.sleep("1 second")
            yield* Effect.orDie(Effect.zipRight(connection.write(bytes("bye")), connection.end))
            return yield* Deferred.succeed(finished, undefined)
          }
          yield* Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined))
        }), { gracePeriod: "10 seconds" }))

      const quick = yield* connect
      const slow = yield* connect
      for (const [connection, request] of [[quick, "quick"], [slow, "slow"]] as const) {
        yield* connection.write(bytes(request))
        yield* connection.end
      }
      yield* waitUntil(Effect.map(Ref.get(started), (n) => n === 2))
      expect(yield* server.accepting).toBe(true)

      const stopping = yield* Effect.fork(Fiber.interrupt(serving))
      // Both the quick handler's sleep and the grace period's timer are running.
      yield* waitUntil(Effect.map(TestClock.sleeps(), (sleeps) => Chunk.size(sleeps) === 2))
      expect((yield* Effect.flip(connect)).reason).toBe("Refused")
      expect(yield* server.accepting).toBe(false)

      yield* TestClock.adjust("1 second")
      yield* Deferred.await(finished)
      expect(yield* readAll(quick)).toBe("bye")
      yield* TestClock.adjust("8999 millis")
      expect(yield* Deferred.isDone(interrupted)).toBe(false)
      expect(yield* Fiber.poll(stopping)).toEqual(Option.none())

      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(stopping)
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      closedError(yield* Effect.exit(slow.read))
    })))
})

/** The TCP transport on real loopback sockets: bytes, backpressure, ends and resets, and how `serve` runs and stops. */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { createHash, randomBytes } from "node:crypto"
import * as Net from "node:net"
import * as NodeConnection from "../../src/layers/NodeConnection.js"
import * as NodeSocketClient from "../../src/layers/NodeSocketClient.js"
import * as NodeSocketServer from "../../src/layers/NodeSocketServer.js"
import { type Connection, ConnectionError } from "../../src/services/Connection.js"
import { SocketClient } from "../../src/services/SocketClient.js"
import type { ServerConnection } from "../../src/services/SocketServer.js"
import { SocketServer } from "../../src/services/SocketServer.js"

const host = "127.0.0.1"
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

/** Reads the whole request (until the client ends), then answers it and ends. */
const answer = (reply: (request: string) => string) => (connection: Connection) =>
  Effect.gen(function*() {
    const request = yield* readAll(connection)
    yield* connection.write(bytes(reply(request)))
    yield* connection.end
  }).pipe(Effect.orDie)

const serve = <R>(
  handle: (connection: ServerConnection) => Effect.Effect<void, never, R>,
  gracePeriod: Duration.DurationInput = 0
) => Effect.flatMap(SocketServer, (server) => Effect.forkScoped(server.serve(handle, { gracePeriod })))

const connect = Effect.gen(function*() {
  const { address } = yield* SocketServer
  return yield* (yield* SocketClient).connect(address.host, address.port)
})

/** Sends `request`, ends, and reads the whole answer. */
const exchange = (request: string) =>
  Effect.gen(function*() {
    const connection = yield* connect
    yield* connection.write(bytes(request))
    yield* connection.end
    return yield* readAll(connection)
  }).pipe(Effect.scoped)

/** Lets other fibers run until `condition` holds. */
const waitUntil = (condition: () => boolean) => Effect.yieldNow().pipe(Effect.repeat({ until: condition }))

/** Closed by the server without an answer: an end, or a reset if it left bytes unread. */
const expectNoAnswer = (result: Either.Either<string, ConnectionError>) => {
  if (Either.isLeft(result)) expect(result.left.reason).toBe("Closed")
  else expect(result.right).toBe("")
}

/** Each test with a server of its own on an ephemeral loopback port, its connections closed first. */
const onLoopback = <A, E>(test: Effect.Effect<A, E, SocketServer | SocketClient | Scope.Scope>) =>
  test.pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(NodeSocketServer.layer({ host, port: 0 }), NodeSocketClient.layer))
  )

/** A raw socket server, closed with the scope. */
const rawServer = (onConnection: (socket: Net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer(onConnection)
      server.listen(0, host, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** Two ends of a loopback connection as plain sockets, destroyed with the scope. */
const socketPair = Effect.gen(function*() {
  const accepted = yield* Deferred.make<Net.Socket>()
  const port = yield* rawServer((socket) => Deferred.unsafeDone(accepted, Effect.succeed(socket)))
  const ours = yield* Effect.acquireRelease(
    Effect.async<Net.Socket>((resume) => {
      const socket = Net.createConnection({ host, port }, () => resume(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )
  const theirs = yield* Effect.acquireRelease(Deferred.await(accepted), (socket) => Effect.sync(() => socket.destroy()))
  return { ours, theirs }
})

describe("NodeSocket", () => {
  it.live("carries bytes both ways, several chunks in one write, with each direction ended on its own", () =>
    onLoopback(Effect.gen(function*() {
      yield* serve((connection) =>
        Effect.gen(function*() {
          const request = yield* readAll(connection)
          yield* connection.write(bytes("you said: "), bytes(request), bytes("."))
          yield* connection.end
        }).pipe(Effect.orDie)
      )
      const connection = yield* connect
      expect(connection.peer).toMatch(/^127\.0\.0\.1:\d+$/)
      yield* connection.write(bytes("a"), bytes("bc"), bytes("def"))
      yield* connection.end
      expect(yield* readAll(connection)).toBe("you said: abcdef.")
      expect(yield* connection.read).toEqual(Option.none())
    })))

  it.live("a 64 MiB write waits for a slow reader, which receives every byte in order", () =>
    onLoopback(Effect.gen(function*() {
      const payload = randomBytes(64 * 1024 * 1024)
      const written = yield* Deferred.make<void>()
      yield* serve((connection) =>
        Effect.gen(function*() {
          yield* connection.write(payload)
          yield* Deferred.succeed(written, undefined)
          yield* connection.end
        }).pipe(Effect.orDie)
      )
      const connection = yield* connect
      const first = yield* connection.read
      expect(Option.isSome(first)).toBe(true)
      // Far more than the kernel buffers hold: the write cannot be done while the reader lags.
      expect(yield* Deferred.isDone(written)).toBe(false)

      const hash = createHash("sha256").update(Option.getOrThrow(first))
      let received = Option.getOrThrow(first).length
      while (true) {
        yield* Effect.yieldNow()
        const chunk = yield* connection.read
        if (Option.isNone(chunk)) break
        hash.update(chunk.value)
        received += chunk.value.length
      }
      expect(received).toBe(payload.length)
      expect(hash.digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"))
      expect(yield* Deferred.isDone(written)).toBe(true)
    })))

  it.live("after the peer resets, writes and reads fail Closed", () =>
    Effect.gen(function*() {
      const port = yield* rawServer((socket) => socket.once("data", () => socket.resetAndDestroy()))
      const connection = yield* (yield* SocketClient).connect(host, port)
      yield* connection.write(bytes("hello"))
      const error = yield* Effect.flip(Effect.forever(connection.write(new Uint8Array(64 * 1024))))
      expect(error.reason).toBe("Closed")
      expect((yield* Effect.flip(connection.read)).reason).toBe("Closed")
    }).pipe(Effect.scoped, Effect.provide(NodeSocketClient.layer)))

  it.live("connections made before serve starts are kept and served", () =>
    onLoopback(Effect.gen(function*() {
      const early = yield* connect
      yield* early.write(bytes("early"))
      yield* early.end
      yield* serve(answer((request) => `${request}, answered`))
      expect(yield* readAll(early)).toBe("early, answered")
    })))

  it.live("runs every connection's handler in a fiber of its own", () =>
    onLoopback(Effect.gen(function*() {
      const count = 50
      const arrived = yield* Ref.make(0)
      const allArrived = yield* Deferred.make<void>()
      // No handler answers before all of them are running at once.
      yield* serve((connection) =>
        Effect.gen(function*() {
          if ((yield* Ref.updateAndGet(arrived, (n) => n + 1)) === count) yield* Deferred.succeed(allArrived, undefined)
          yield* Deferred.await(allArrived)
          yield* answer((request) => request.toUpperCase())(connection)
        })
      )
      const answers = yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) => exchange(`client ${i}`),
        { concurrency: "unbounded" }
      )
      expect(answers).toEqual(Array.from({ length: count }, (_, i) => `CLIENT ${i}`))
    })))

  it.live("a handler that dies is logged and its connection closed, and the next connection is served", () =>
    Effect.gen(function*() {
      const errors: Array<string> = []
      const logger = Logger.make(({ cause, logLevel, message }) => {
        if (logLevel._tag === "Error") errors.push(`${String(message)} ${Cause.pretty(cause)}`)
      })
      yield* onLoopback(Effect.gen(function*() {
        yield* serve((connection) =>
          Effect.gen(function*() {
            const request = yield* readAll(connection)
            if (request === "die") return yield* Effect.die(new Error("boom"))
            yield* connection.write(bytes("alive"))
            yield* connection.end
          }).pipe(Effect.orDie)
        )
        expectNoAnswer(yield* Effect.either(exchange("die")))
        expect(yield* exchange("hello")).toBe("alive")
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toContain("boom")
    }))

  it.live("listening fails with the reason when the address is taken or not local", () =>
    Effect.gen(function*() {
      const taken = yield* Layer.build(NodeSocketServer.layer({ host, port: 0 }))
      const { port } = Context.get(taken, SocketServer).address
      expect(port).toBeGreaterThan(0)
      const inUse = yield* Effect.flip(Layer.build(NodeSocketServer.layer({ host, port })))
      expect(inUse.reason).toBe("AddressInUse")
      expect(inUse.address).toEqual({ host, port })
      // TEST-NET-1: reserved for documentation, never a local address.
      const notLocal = yield* Effect.flip(Layer.build(NodeSocketServer.layer({ host: "192.0.2.1", port: 0 })))
      expect(notLocal.reason).toBe("AddressUnavailable")
    }).pipe(Effect.scoped))

  it.live("connecting to a port nobody listens on fails Refused", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(rawServer(() => {}))
      const error = yield* Effect.flip((yield* SocketClient).connect(host, port))
      expect(error.reason).toBe("Refused")
      expect(error.cause).toMatchObject({ code: "ECONNREFUSED" })
    }).pipe(Effect.scoped, Effect.provide(NodeSocketClient.layer)))

  it.live("stopping refuses new connections at once, drains, and interrupts what outlasts the grace period", () =>
    onLoopback(Effect.gen(function*() {
      const quickStarted = yield* Deferred.make<void>()
      const slowStarted = yield* Deferred.make<void>()
      const quickDraining = yield* Deferred.make<void>()
      const quickFinished = yield* Deferred.make<void>()
      const slowInterrupted = yield* Deferred.make<void>()
      const server = yield* SocketServer
      const serving = yield* Effect.fork(server.serve((connection) =>
        Effect.gen(function*() {
          const request = yield* Effect.orDie(readAll(connection))
          if (request === "quick") {
            yield* Deferred.succeed(quickStarted, undefined)
            yield* connection.draining
            yield* Deferred.succeed(quickDraining, undefined)
            yield* Effect.orDie(Effect.zipRight(connection.write(bytes("bye")), connection.end))
            return yield* Deferred.succeed(quickFinished, undefined)
          }
          yield* Deferred.succeed(slowStarted, undefined)
          yield* Effect.onInterrupt(Effect.never, () => Deferred.succeed(slowInterrupted, undefined))
        }), { gracePeriod: "100 millis" }))

      const quick = yield* connect
      const slow = yield* connect
      for (const [connection, request] of [[quick, "quick"], [slow, "slow"]] as const) {
        yield* connection.write(bytes(request))
        yield* connection.end
      }
      yield* Deferred.await(quickStarted)
      yield* Deferred.await(slowStarted)

      const stopping = yield* Effect.fork(Fiber.interrupt(serving))
      yield* Deferred.await(quickDraining)
      expect((yield* Effect.flip(connect)).reason).toBe("Refused")
      expect(yield* readAll(quick)).toBe("bye")

      yield* Fiber.join(stopping)
      expect(yield* Deferred.isDone(quickFinished)).toBe(true)
      expect(yield* Deferred.isDone(slowInterrupted)).toBe(true)
      expectNoAnswer(yield* Effect.either(readAll(slow)))
    })))

  it.live("keeps the socket paused between reads, and leaves no listener behind", () =>
    Effect.gen(function*() {
      const { ours, theirs } = yield* socketPair
      const connection = yield* NodeConnection.make(ours)
      const events = ["data", "end", "error", "close", "drain", "finish"] as const
      const listeners = () => events.map((event) => ours.listenerCount(event))
      const before = listeners()
      expect(ours.isPaused()).toBe(true)

      theirs.write("ping")
      expect(yield* connection.read).toEqual(Option.some(bytes("ping")))
      expect(ours.isPaused()).toBe(true)

      // The peer consumes as fast as it can, so some writes complete at once and others wait for 'drain'.
      theirs.resume()
      const chunk = new Uint8Array(256 * 1024)
      for (let i = 0; i < 200; i++) yield* connection.write(chunk)
      for (let i = 0; i < 100; i++) yield* connection.write(chunk, chunk, chunk)
      expect(listeners()).toEqual(before)

      // Interrupted while waiting: for bytes that never come, and for a peer that stopped reading.
      const reading = yield* Effect.fork(connection.read)
      yield* waitUntil(() => !ours.isPaused())
      yield* Fiber.interrupt(reading)
      expect(ours.isPaused()).toBe(true)
      theirs.pause()
      const writing = yield* Effect.fork(connection.write(new Uint8Array(64 * 1024 * 1024)))
      yield* waitUntil(() => ours.listenerCount("close") > before[events.indexOf("close")]!)
      yield* Fiber.interrupt(writing)
      expect(listeners()).toEqual(before)
    }).pipe(Effect.scoped))

  it.live("a read deadline fails a waiting read, follows a new one, and can be removed", () =>
    Effect.gen(function*() {
      const { ours, theirs } = yield* socketPair
      const connection = yield* NodeConnection.make(ours)
      const timedOut = Exit.fail(new ConnectionError({ reason: "TimedOut" }))

      yield* connection.readDeadline("20 millis")
      expect(yield* Effect.exit(connection.read)).toStrictEqual(timedOut)
      // Without a deadline, a read waits as long as it takes.
      theirs.write("late")
      yield* connection.readDeadline(undefined)
      expect(yield* connection.read).toEqual(Option.some(bytes("late")))

      const waiting = yield* Effect.fork(connection.read)
      yield* waitUntil(() => !ours.isPaused())
      yield* connection.readDeadline(0)
      expect(yield* Fiber.await(waiting)).toStrictEqual(timedOut)
      expect(ours.isPaused()).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a write completes once its bytes are handed over: the writer may then reuse its memory", () =>
    Effect.gen(function*() {
      const { ours, theirs } = yield* socketPair
      const connection = yield* NodeConnection.make(ours)
      // One buffer, refilled for every write; smaller than Node's own buffer limit, so that a write
      // the kernel cannot take at once would otherwise look done while its bytes still wait in Node.
      const BLOCK = 8 * 1024
      const BLOCKS = 4096
      const buffer = Buffer.alloc(BLOCK)
      theirs.pause()
      const writer = yield* Effect.fork(Effect.forEach(Array.from({ length: BLOCKS }, (_, i) => i), (i) => {
        buffer.fill(i & 0xff)
        return connection.write(buffer)
      }, { discard: true }))
      // The kernel's buffers are full before the peer reads anything.
      yield* waitUntil(() => ours.writableLength > 0)
      const received = yield* Effect.async<Buffer>((resume) => {
        const chunks: Array<Buffer> = []
        let length = 0
        theirs.on("data", (chunk: Buffer) => {
          chunks.push(chunk)
          length += chunk.length
          if (length === BLOCK * BLOCKS) resume(Effect.succeed(Buffer.concat(chunks)))
        })
        theirs.resume()
      })
      yield* Fiber.join(writer)
      const wrong = Array.from({ length: BLOCKS }, (_, i) => i).filter((i) =>
        !received.subarray(i * BLOCK, (i + 1) * BLOCK).every((byte) => byte === (i & 0xff))
      )
      expect(wrong).toEqual([])
    }).pipe(Effect.scoped))
})

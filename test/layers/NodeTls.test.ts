/**
 * The transport over TLS on real loopback sockets: bytes and backpressure as over TCP, stalls still
 * seen, the gate in front of the server (plain clients, slow or failed handshakes, client
 * certificates), and the client's TLS failures told apart.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { createHash, randomBytes } from "node:crypto"
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as NodeSocketClient from "../../src/layers/NodeSocketClient.js"
import * as NodeSocketServer from "../../src/layers/NodeSocketServer.js"
import type { Connection } from "../../src/services/Connection.js"
import { SocketClient } from "../../src/services/SocketClient.js"
import { type ServerConnection, SocketServer } from "../../src/services/SocketServer.js"
import * as Certificates from "../support/certificates.js"

const host = "127.0.0.1"
const bytes = (text: string) => new TextEncoder().encode(text)
const text = (chunks: ReadonlyArray<Uint8Array>) => Buffer.concat(chunks).toString("utf8")

/** What the gate sends a refused client: readable, so that a test can tell which refusal it was. */
const refusal = (refused: NodeSocketServer.TlsRefusal) =>
  bytes(`refused ${refused.reason}${refused.reason === "CertificateRefused" ? ` ${refused.detail}` : ""}`)

/** Everything the peer sends until it ends. */
const readAll = (connection: Connection) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    while (true) {
      const chunk = yield* connection.read
      if (Option.isNone(chunk)) return text(chunks)
      chunks.push(Uint8Array.from(chunk.value))
    }
  })

const serve = <R>(
  handle: (connection: ServerConnection) => Effect.Effect<void, never, R>,
  stallTimeout?: Duration.DurationInput
) =>
  Effect.flatMap(SocketServer, (server) =>
    Effect.forkScoped(
      server.serve(handle, { gracePeriod: 0, ...(stallTimeout === undefined ? {} : { stallTimeout }) })
    ))

/** Answers "you said: ..." to whatever a client sends before it ends. */
const echo = (connection: ServerConnection) =>
  Effect.gen(function*() {
    const request = yield* readAll(connection)
    yield* connection.write(bytes(`you said: ${request}`))
    yield* connection.end
  }).pipe(Effect.orDie)

const connect = Effect.gen(function*() {
  const { address } = yield* SocketServer
  return yield* (yield* SocketClient).connect(address.host, address.port, { reusedReads: true })
})

const tlsServer = (
  certificates: Certificates.Certificates,
  options: {
    readonly clientCa?: string
    readonly pair?: Certificates.Pair
    readonly handshakeTimeout?: Duration.DurationInput
    readonly maxHandshakes?: number
  } = {}
) =>
  NodeSocketServer.layer({
    host,
    port: 0,
    tls: {
      cert: (options.pair ?? certificates.server).cert,
      key: (options.pair ?? certificates.server).key,
      handshakeTimeout: options.handshakeTimeout ?? "5 seconds",
      maxHandshakes: options.maxHandshakes ?? 100,
      refusal,
      ...(options.clientCa === undefined ? {} : { clientCa: options.clientCa })
    }
  })

/** A test with certificates of its own, a TLS server (as asked) and a TLS client trusting the CA. */
const overTls = <A, E>(
  test: (certificates: Certificates.Certificates) => Effect.Effect<A, E, SocketServer | SocketClient | Scope.Scope>,
  server: (certificates: Certificates.Certificates) => Layer.Layer<SocketServer, unknown> = (c) => tlsServer(c),
  client: (certificates: Certificates.Certificates) => NodeSocketClient.TlsOptions = (c) => ({ ca: c.ca.cert })
) =>
  Effect.gen(function*() {
    const certificates = yield* Certificates.make
    return yield* test(certificates).pipe(
      Effect.provide(Layer.merge(server(certificates), NodeSocketClient.layerWith({ tls: client(certificates) })))
    )
  }).pipe(Effect.scoped)

/** A raw TCP socket to the server, destroyed with the scope; what it receives is collected. */
const rawSocket = Effect.gen(function*() {
  const { address } = yield* SocketServer
  const received: Array<Buffer> = []
  const closed = yield* Deferred.make<string>()
  const socket = yield* Effect.acquireRelease(
    Effect.async<Net.Socket>((resume) => {
      const socket = Net.createConnection({ host, port: address.port }, () => resume(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )
  socket.on("data", (chunk: Buffer) => received.push(chunk))
  socket.on("error", () => {})
  socket.on("close", () => Deferred.unsafeDone(closed, Effect.succeed(text(received))))
  return { socket, closed: Deferred.await(closed) }
})

/** Warnings logged while `effect` runs. */
const warnings = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const logged: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") logged.push(String(message))
    })
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, logged] as const
  })

describe("NodeSocket over TLS", () => {
  it.live("carries 64 MiB to a slow reader reading into reused slabs, every byte in order", () =>
    overTls(() =>
      Effect.gen(function*() {
        const payload = randomBytes(64 * 1024 * 1024)
        yield* serve((connection) =>
          Effect.gen(function*() {
            expect(connection.peer).toMatch(/^127\.0\.0\.1:\d+$/)
            expect(yield* readAll(connection)).toBe("send it")
            yield* connection.write(payload.subarray(0, 1), payload.subarray(1))
            yield* connection.end
          }).pipe(Effect.orDie)
        )
        const connection = yield* connect
        yield* connection.write(bytes("send"), bytes(" it"))
        yield* connection.end
        const hash = createHash("sha256")
        let received = 0
        while (true) {
          yield* Effect.yieldNow()
          const chunk = yield* connection.read
          if (Option.isNone(chunk)) break
          hash.update(chunk.value)
          received += chunk.value.length
        }
        expect(received).toBe(payload.length)
        expect(hash.digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"))
      })
    ))

  it.live("a slow reader keeps a long write alive, and one that stops reading is dropped Stalled", () =>
    overTls(() =>
      Effect.gen(function*() {
        const outcomes: Array<string> = []
        const done = yield* Deferred.make<void>()
        // 16 MiB in one write: far more than the kernel's buffers, so it is done only as the reader takes it.
        const payload = new Uint8Array(16 * 1024 * 1024)
        yield* serve((connection) =>
          Effect.gen(function*() {
            const exit = yield* Effect.exit(connection.write(payload))
            outcomes.push(Exit.isSuccess(exit) ? "written" : exit.cause.toString())
            if (outcomes.length === 2) yield* Deferred.succeed(done, undefined)
          }), "1 second")
        const slow = yield* connect
        // Connected, and never read from.
        yield* connect
        // A few MiB a second: the write takes seconds, over which the kernel keeps taking bytes.
        let received = 0
        while (received < payload.length) {
          const chunk = yield* slow.read
          if (Option.isNone(chunk)) break
          received += chunk.value.length
          yield* Effect.sleep("2 millis")
        }
        expect(received).toBe(payload.length)
        yield* Deferred.await(done)
        expect(outcomes).toHaveLength(2)
        expect(outcomes.filter((outcome) => outcome === "written")).toHaveLength(1)
        expect(outcomes.find((outcome) => outcome !== "written")).toContain("connection stalled")
      })
    ))

  it.live("a plain client gets the refusal and the connection closes; no handler runs", () =>
    Effect.gen(function*() {
      let handled = 0
      const [answer, logged] = yield* warnings(overTls(() =>
        Effect.gen(function*() {
          yield* serve(() => Effect.sync(() => handled++))
          const raw = yield* rawSocket
          raw.socket.write("FRY\x02 a plain request")
          return yield* raw.closed
        })
      ))
      expect(answer).toBe("refused NotTls")
      expect(logged).toEqual(["a client not speaking TLS was refused: this port speaks TLS only"])
      expect(handled).toBe(0)
    }))

  it.live("a handshake not done in time, or gone wrong, is closed and logged; no handler runs", () =>
    Effect.gen(function*() {
      let handled = 0
      const [answers, logged] = yield* warnings(overTls(
        () =>
          Effect.gen(function*() {
            yield* serve(() => Effect.sync(() => handled++))
            const silent = yield* rawSocket
            const halfway = yield* rawSocket
            const garbled = yield* rawSocket
            // The start of a TLS record, and then nothing.
            halfway.socket.write(Uint8Array.of(0x16, 0x03, 0x01))
            // A handshake record holding no ClientHello.
            garbled.socket.write(Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0x04, 0xff, 0x00, 0x00, 0x00))
            return [yield* silent.closed, yield* halfway.closed, yield* garbled.closed]
          }),
        (certificates) => tlsServer(certificates, { handshakeTimeout: "300 millis" })
      ))
      expect(answers).toEqual(["", "", expect.any(String)])
      expect(logged).toHaveLength(3)
      expect(logged).toContainEqual(expect.stringMatching(/^TLS handshake failed: /))
      expect(logged.filter((line) => line === "TLS handshake not done within 300ms: closed")).toHaveLength(2)
      expect(handled).toBe(0)
    }))

  it.live("past the bound on handshakes under way, a connection is closed at once; freed slots are used again", () =>
    Effect.gen(function*() {
      const [answers, logged] = yield* warnings(overTls(
        () =>
          Effect.gen(function*() {
            yield* serve(echo)
            const silent = [yield* rawSocket, yield* rawSocket]
            const third = yield* rawSocket
            const refused = yield* third.closed
            // The two silent ones run out of time, and their slots are free again.
            for (const socket of silent) yield* socket.closed
            const connection = yield* connect
            yield* connection.write(bytes("hello"))
            yield* connection.end
            return [refused, yield* readAll(connection)]
          }),
        (certificates) => tlsServer(certificates, { handshakeTimeout: "300 millis", maxHandshakes: 2 })
      ))
      expect(answers).toEqual(["", "you said: hello"])
      expect(logged).toEqual([
        "2 TLS handshakes under way already: closed",
        "TLS handshake not done within 300ms: closed",
        "TLS handshake not done within 300ms: closed"
      ])
    }))

  it.live("with a client CA: no certificate, or one from another CA, is refused; one it signed is served", () =>
    Effect.gen(function*() {
      const certificates = yield* Certificates.make
      const exchange = (client: NodeSocketClient.TlsOptions) =>
        Effect.gen(function*() {
          const connection = yield* connect
          yield* connection.write(bytes("hello"))
          yield* connection.end
          return yield* readAll(connection)
        }).pipe(Effect.scoped, Effect.provide(NodeSocketClient.layerWith({ tls: client })))
      const ca = certificates.ca.cert
      const [answers, logged] = yield* warnings(
        Effect.gen(function*() {
          yield* serve(echo)
          return [
            yield* exchange({ ca }),
            yield* exchange({ ca, cert: certificates.otherClient.cert, key: certificates.otherClient.key }),
            yield* exchange({ ca, cert: certificates.client.cert, key: certificates.client.key })
          ]
        }).pipe(Effect.provide(tlsServer(certificates, { clientCa: certificates.ca.cert })))
      )
      expect(answers[0]).toBe("refused NoCertificate")
      expect(answers[1]).toMatch(/^refused CertificateRefused [A-Z_]+$/)
      expect(answers[2]).toBe("you said: hello")
      expect(logged).toEqual([
        "a client without a certificate was refused",
        expect.stringMatching(/^a client certificate was refused: [A-Z_]+$/)
      ])
    }).pipe(Effect.scoped))

  it.live("the client tells apart another CA, another name, an expired certificate and a plain port", () =>
    Effect.gen(function*() {
      const certificates = yield* Certificates.make
      const problemWith = (server: Layer.Layer<SocketServer, unknown>, client: NodeSocketClient.TlsOptions) =>
        Effect.gen(function*() {
          // A plain ferry server answers a TLS handshake as a request it cannot read.
          yield* serve((connection) =>
            Effect.ignore(Effect.zipRight(connection.write(bytes("FRY\x02\x02\x00\x00\x00")), connection.end))
          )
          const error = yield* Effect.flip(connect)
          return error.reason === "Tls" ? error.tls : error.reason
        }).pipe(
          Effect.scoped,
          Effect.provide(Layer.merge(server, NodeSocketClient.layerWith({ tls: client })))
        )
      const ca = certificates.ca.cert
      const plain = NodeSocketServer.layer({ host, port: 0 })
      expect(yield* problemWith(tlsServer(certificates), { ca: certificates.otherCa.cert })).toBe("Untrusted")
      expect(yield* problemWith(tlsServer(certificates), {})).toBe("Untrusted")
      expect(yield* problemWith(tlsServer(certificates, { pair: certificates.otherName }), { ca })).toBe("HostName")
      expect(yield* problemWith(tlsServer(certificates, { pair: certificates.expired }), { ca })).toBe("Expired")
      expect(yield* problemWith(plain, { ca })).toBe("NotTls")
    }).pipe(Effect.scoped))

  it.live("insecure, the client takes any certificate", () =>
    overTls(
      () =>
        Effect.gen(function*() {
          yield* serve(echo)
          const connection = yield* connect
          yield* connection.write(bytes("anyway"))
          yield* connection.end
          expect(yield* readAll(connection)).toBe("you said: anyway")
        }),
      (certificates) => tlsServer(certificates, { pair: certificates.expired }),
      () => ({ insecure: true })
    ))

  it.live("TLS 1.2 is taken from a client that speaks no later", () =>
    overTls(() =>
      Effect.gen(function*() {
        yield* serve((connection) => Effect.ignore(readAll(connection)))
        const { address } = yield* SocketServer
        const socket = yield* Effect.acquireRelease(
          Effect.async<Tls.TLSSocket>((resume) => {
            const socket = Tls.connect({ host, port: address.port, rejectUnauthorized: false, maxVersion: "TLSv1.2" })
            socket.once("secureConnect", () => resume(Effect.succeed(socket)))
          }),
          (socket) => Effect.sync(() => socket.destroy())
        )
        expect(socket.getProtocol()).toBe("TLSv1.2")
      })
    ))
})

/**
 * The faulty-network harness (test/support/netns.ts) proved on a TCP echo server in a namespace: it
 * is reachable from the root namespace, a blackhole stops it and restoring brings it back, and a
 * random loss slows a transfer without breaking it.
 */
import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Net from "node:net"
import * as Netns from "../support/netns.js"
import { bounded, MiB } from "./harness.js"

// Echoes each connection back to itself and prints its port once listening: `node -e ECHO HOST`.
const ECHO = `
const net = require("node:net")
const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on("error", () => socket.destroy())
  socket.pipe(socket)
})
server.listen(0, process.argv[1], () => console.log(server.address().port))
`

/** The first line `child` writes on stdout; a defect if it exits first. */
const firstLine = (child: ChildProcess): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    let stdout = ""
    let stderr = ""
    const onData = (text: string) => {
      stdout += text
      const end = stdout.indexOf("\n")
      if (end >= 0) {
        stop()
        resume(Effect.succeed(stdout.slice(0, end)))
      }
    }
    const onStderr = (text: string) => stderr += text
    const onExit = () => {
      stop()
      resume(Effect.dieMessage(`exited before printing a line; stderr:\n${stderr}`))
    }
    const stop = () => {
      child.stdout!.off("data", onData)
      child.stderr!.off("data", onStderr)
      child.off("exit", onExit)
    }
    child.stdout!.setEncoding("utf8").on("data", onData)
    child.stderr!.setEncoding("utf8").on("data", onStderr)
    child.on("exit", onExit)
    return Effect.sync(stop)
  })

/** An echo server in `netns`, listening once this returns: its port. */
const startEcho = (netns: Netns.Netns) =>
  Effect.gen(function*() {
    const child = yield* netns.spawn(process.execPath, ["-e", ECHO, netns.address])
    return Number(yield* firstLine(child).pipe(bounded("15 seconds", "waiting for the echo server to listen")))
  })

/** Connects, sends `bytes`, half-closes and returns all that comes back before the server closes. */
const echo = (host: string, port: number, bytes: Uint8Array): Effect.Effect<Buffer, Error> =>
  Effect.async<Buffer, Error>((resume) => {
    const chunks: Array<Buffer> = []
    const socket = Net.createConnection({ host, port })
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("end", () => resume(Effect.succeed(Buffer.concat(chunks))))
    socket.on("error", (error) => resume(Effect.fail(error)))
    socket.end(bytes)
    return Effect.sync(() => socket.destroy())
  })

/** Whether a TCP connection to `host:port` is established within `patience` (the socket is closed either way). */
const connects = (host: string, port: number, patience: Duration.DurationInput) =>
  Effect.async<void>((resume) => {
    const socket = Net.createConnection({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutOption(patience), Effect.map(Option.isSome))

// Each way, independently. TCP over a link losing 30% of packets both ways completes, but in anything
// from 0.2 to over 30 seconds for 1 MiB here (retransmission timeouts double at each loss of a
// retransmission); 10% keeps a few MiB within seconds.
const LOSS_PERCENT = 10

describe.skipIf(Netns.unavailable !== undefined)("a server in a network namespace", () => {
  it.scopedLive("is reachable from the root namespace at the namespace's address", () =>
    Effect.gen(function*() {
      const netns = yield* Netns.make
      const port = yield* startEcho(netns)
      const reply = yield* echo(netns.address, port, Buffer.from("hello")).pipe(bounded("10 seconds", "echo"))
      expect(reply.toString()).toBe("hello")
    }))

  it.scopedLive("is cut off by blackhole() and reachable again after restore()", () =>
    Effect.gen(function*() {
      const netns = yield* Netns.make
      const port = yield* startEcho(netns)
      yield* netns.blackhole
      expect(yield* connects(netns.address, port, "2 seconds")).toBe(false)
      expect(yield* netns.dropped).toBeGreaterThan(0)
      yield* netns.restore
      const reply = yield* echo(netns.address, port, Buffer.from("back")).pipe(bounded("10 seconds", "echo"))
      expect(reply.toString()).toBe("back")
    }))

  it.scopedLive(`still echoes 4 MiB intact while ${LOSS_PERCENT}% of packets are dropped each way`, () =>
    Effect.gen(function*() {
      const netns = yield* Netns.make
      const port = yield* startEcho(netns)
      yield* netns.dropRandom(LOSS_PERCENT)
      const sent = randomBytes(4 * MiB)
      const reply = yield* echo(netns.address, port, sent).pipe(bounded("20 seconds", "echo under loss"))
      expect(reply.length).toBe(sent.length)
      expect(reply.equals(sent)).toBe(true)
      expect(yield* netns.dropped).toBeGreaterThan(0)
    }))
})

if (Netns.unavailable !== undefined) {
  describe("a server in a network namespace", () => {
    it.skip(`skipped: ${Netns.unavailable}`, () => {})
  })
}

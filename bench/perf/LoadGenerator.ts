/**
 * The ferry load generator of scenario 3, in process and lean enough to cost no more CPU per request
 * than wrk does for nginx: raw sockets (or TLS ones), each sending GET after GET back to back on one persistent
 * connection, cycling through a set of files, read into one reused buffer (no allocation per read,
 * which costs Node more than the rest together) and scanned without copying (ResponseScanner). Every response's size and trailer digest are checked against the source; one in
 * `rehashEvery` (counted over all connections) has its body hashed too. Requests are counted for
 * `seconds` after a warm-up.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { type Digest, type Hasher, hasher } from "../../src/protocol/Digest.js"
import { BenchError, cpuTimes, type CpuUse } from "./Processes.js"
import { getRequest, ResponseScanner } from "./ResponseScanner.js"
import { HOST, type SourceFile } from "./Workspace.js"

/**
 * A read's most: more than the 64 KiB a socket read takes by default, so that a 64 KiB file's whole
 * response (body, framing, trailer) can come in one read; tried here, it costs 10-25% less CPU.
 */
const READ_BYTES = 128 * 1024
/** What the ferry client asks for by default. */
const DIGEST: Digest = "xxh3-128"

export interface Load {
  readonly port: number
  /** The server's process, whose CPU is measured over the counted span. */
  readonly serverPid: number
  readonly files: ReadonlyArray<SourceFile>
  readonly connections: number
  readonly warmupSeconds: number
  readonly seconds: number
  readonly rehashEvery: number
  /** Over TLS, trusting this CA (PEM). */
  readonly tls?: { readonly ca: string }
}

export interface Measured {
  readonly requests: number
  readonly seconds: number
  readonly rehashed: number
  /** The CPU the server and this harness (the load generator) used over the counted span. */
  readonly cpu: CpuUse
}

export const generate = (load: Load) =>
  Effect.gen(function*() {
    const requests = load.files.map((file) => getRequest(file.name, DIGEST))
    // Succeeds once every connection has closed after the stop; fails with the first problem.
    const finished = yield* Deferred.make<void, BenchError>()
    const counts = { phase: "warm-up" as "warm-up" | "measure" | "stop", requests: 0, rehashed: 0, sent: 0 }
    // Connections start at different places in the list, so that they do not ask in lockstep.
    const step = Math.max(1, Math.floor(load.files.length / load.connections))
    const fail = (detail: string) => Deferred.unsafeDone(finished, Effect.fail(new BenchError({ detail })))

    // Every read lands here and is scanned before the next: one buffer serves all the connections.
    const readBuffer = Buffer.allocUnsafe(READ_BYTES)
    let open = load.connections
    const connect = (index: number): Net.Socket => {
      const scanner = new ResponseScanner()
      let next = index * step
      let file = load.files[0]!
      let hash: Hasher | undefined
      const ask = () => {
        const at = next++ % load.files.length
        file = load.files[at]!
        hash = ++counts.sent % load.rehashEvery === 0 ? hasher(DIGEST) : undefined
        scanner.expect(hash === undefined ? undefined : (bytes) => hash!.update(bytes))
        socket.write(requests[at]!)
      }
      // Whether the answer is the source's bytes; a failure's description if not.
      const wrong = (): string | undefined => {
        const result = scanner.result!
        if (result._tag === "Failed") return result.detail
        if (result.size !== file.size) return `announced ${result.size} bytes, not ${file.size}`
        if (result.algorithm !== DIGEST) return `checked with ${result.algorithm}, not ${DIGEST}`
        if (hash !== undefined && !Buffer.from(hash.digest()).equals(result.digest)) {
          return "the bytes received do not match the trailer's digest"
        }
        if (!file.digests[DIGEST].equals(result.digest)) return "the trailer's digest is not the source's"
        return undefined
      }
      const read = (length: number) => {
        const at = scanner.scan(readBuffer, 0, length)
        if (scanner.result === undefined) return
        const problem = at < length ? "bytes after the end of the response" : wrong()
        if (problem !== undefined) return fail(`GET ${file.name}: ${problem}`)
        if (counts.phase === "measure") {
          counts.requests++
          if (hash !== undefined) counts.rehashed++
        }
        if (counts.phase === "stop") socket.end()
        else ask()
      }
      const options = {
        host: HOST,
        port: load.port,
        // Reading on whatever `read` found: a failure ends the run, and with it every socket.
        onread: { buffer: readBuffer, callback: (length: number) => (read(length), true) }
      }
      const socket = load.tls === undefined
        ? Net.connect({ ...options, noDelay: true })
        : Tls.connect({ ...options, ca: load.tls.ca }).setNoDelay(true)
      socket.on(load.tls === undefined ? "connect" : "secureConnect", ask)
      socket.on("error", (error) => fail(`connection ${index}: ${error.message}`))
      socket.on("close", () => {
        if (counts.phase !== "stop" || scanner.result === undefined) fail(`connection ${index} closed by the server`)
        if (--open === 0) Deferred.unsafeDone(finished, Effect.void)
      })
      return socket
    }

    yield* Effect.acquireRelease(
      Effect.sync(() => Array.from({ length: load.connections }, (_, i) => connect(i))),
      (sockets) => Effect.sync(() => sockets.forEach((socket) => socket.destroy()))
    )
    const paced = Effect.gen(function*() {
      yield* Effect.sleep(`${load.warmupSeconds} seconds`)
      counts.phase = "measure"
      const before = yield* cpuTimes(load.serverPid)
      const started = performance.now()
      yield* Effect.sleep(`${load.seconds} seconds`)
      counts.phase = "stop"
      const seconds = (performance.now() - started) / 1000
      const after = yield* cpuTimes(load.serverPid)
      return { process: after.process - before.process, harness: after.harness - before.harness, wall: seconds }
    })
    // A problem on any connection ends the run at once.
    const [cpu] = yield* Effect.all([paced, Deferred.await(finished)], { concurrency: "unbounded" })
    return { requests: counts.requests, seconds: cpu.wall, rehashed: counts.rehashed, cpu } satisfies Measured
  }).pipe(Effect.scoped)

/**
 * Helpers for the end-to-end tests: the built binaries run as child processes, as a user runs them,
 * scoped temporary directories and files, and ports. Raw protocol helpers are in rawProtocol.ts.
 */
import { expect } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync } from "node:fs"
import * as fsp from "node:fs/promises"
import * as Net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as RandomFiles from "../support/randomFiles.js"

export const ROOT = fileURLToPath(new URL("../../", import.meta.url))
export const SERVER_BIN = path.join(ROOT, "dist", "bin", "server.js")
export const CLIENT_BIN = path.join(ROOT, "dist", "bin", "client.js")
export const HOST = "127.0.0.1"
export const MiB = 2 ** 20

/** Fails the test, saying `what` was not done, if `self` has not finished within `bound`: nothing may hang. */
export const bounded = (bound: Duration.DurationInput, what: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(self, {
    duration: bound,
    onTimeout: () => new Error(`${what}: not done within ${Duration.format(Duration.decode(bound))}`)
  }).pipe(Effect.orDieWith((error) => error))

// Processes

const requireBuilt = (bin: string) =>
  Effect.suspend(() =>
    existsSync(bin)
      ? Effect.void
      : Effect.dieMessage(`${path.relative(ROOT, bin)} not found: run \`npm run build\` before the end-to-end tests`)
  )

// Settings from the environment of whoever runs the tests must not change what the binaries do.
const cleanEnvironment = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("FERRY_")))

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

interface Child {
  readonly process: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Completes once the process has exited and its output streams are closed. */
  readonly exited: Effect.Effect<Exited>
  readonly hasExited: () => boolean
  /** Waits until `find` returns something for the stderr seen so far; fails if the process exits first. */
  readonly waitForStderr: <A>(find: (stderr: string) => A | undefined) => Effect.Effect<A, Error>
}

interface SpawnOptions {
  readonly cwd?: string
  /** Variables set on top of the cleaned environment. */
  readonly env?: Readonly<Record<string, string>>
}

const spawnChild = (bin: string, args: ReadonlyArray<string | number>, options: SpawnOptions = {}) =>
  Effect.gen(function*() {
    yield* requireBuilt(bin)
    const closed = yield* Deferred.make<Exited>()
    let stdout = ""
    let stderr = ""
    let done = false
    const child = spawn(process.execPath, [bin, ...args.map(String)], {
      cwd: options.cwd ?? os.tmpdir(),
      env: { ...cleanEnvironment(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout.setEncoding("utf8").on("data", (text: string) => stdout += text)
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("error", (error) => {
      done = true
      stderr += `\n(spawn failed: ${error.message})`
      Deferred.unsafeDone(closed, Effect.succeed({ code: null, signal: null }))
    })
    child.on("close", (code, signal) => {
      done = true
      Deferred.unsafeDone(closed, Effect.succeed({ code, signal }))
    })

    const waitForStderr = <A>(find: (stderr: string) => A | undefined) =>
      Effect.async<A, Error>((resume) => {
        const check = () => {
          const found = find(stderr)
          if (found !== undefined) {
            stopWatching()
            resume(Effect.succeed(found))
          } else if (done) {
            stopWatching()
            resume(Effect.fail(new Error(`process exited before the expected output; stderr:\n${stderr}`)))
          }
        }
        // Registered after the listener that collects stderr, so `stderr` already holds each new chunk.
        const stopWatching = () => {
          child.stderr.off("data", check)
          child.off("close", check)
        }
        child.stderr.on("data", check)
        child.on("close", check)
        check()
        return Effect.sync(stopWatching)
      })

    return {
      process: child,
      stdout: () => stdout,
      stderr: () => stderr,
      exited: Deferred.await(closed),
      hasExited: () => done,
      waitForStderr
    } satisfies Child
  })

export interface Ran extends Exited {
  readonly stdout: string
  readonly stderr: string
}

/** Runs a binary to completion (killed if it takes longer than `bound`). */
export const runBinary = (
  bin: string,
  args: ReadonlyArray<string | number>,
  options: SpawnOptions & { readonly bound?: Duration.DurationInput } = {}
): Effect.Effect<Ran> =>
  Effect.scoped(Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      spawnChild(bin, args, options),
      (child) =>
        child.hasExited()
          ? Effect.void
          : Effect.zipRight(Effect.sync(() => child.process.kill("SIGKILL")), child.exited)
    )
    const exited = yield* child.exited.pipe(
      bounded(options.bound ?? "30 seconds", `${path.basename(bin)} ${args.join(" ")}`)
    )
    return { ...exited, stdout: child.stdout(), stderr: child.stderr() }
  }))

/** `ferry-client ARGS`, to completion. */
export const runClient = (args: ReadonlyArray<string | number>, options: SpawnOptions = {}) =>
  runBinary(CLIENT_BIN, args, options)

export interface RunningClient {
  readonly process: ChildProcess
  readonly exited: Effect.Effect<Exited>
  readonly stderr: () => string
}

/** Starts `ferry-client ARGS` without waiting for it; it is killed if still running when the scope closes. */
export const spawnClient = (args: ReadonlyArray<string | number>): Effect.Effect<RunningClient, never, Scope.Scope> =>
  Effect.acquireRelease(
    spawnChild(CLIENT_BIN, args),
    (child) =>
      child.hasExited() ? Effect.void : Effect.zipRight(Effect.sync(() => child.process.kill("SIGKILL")), child.exited)
  )

/** `ferry-server ARGS` for the cases where it is expected to exit by itself (bad arguments, say). */
export const runServer = (args: ReadonlyArray<string | number>) => runBinary(SERVER_BIN, args)

export interface Server {
  readonly port: number
  readonly process: ChildProcess
  readonly stderr: () => string
  /** Completes once the process has exited and its output streams are closed. */
  readonly exited: Effect.Effect<Exited>
  readonly hasExited: () => boolean
  readonly waitForStderr: <A>(find: (stderr: string) => A | undefined) => Effect.Effect<A, Error>
}

const LISTENING = /listening on 127\.0\.0\.1:(\d+)/
const STOP_BOUND = "15 seconds"

/**
 * Stops a server that is still running: SIGTERM, then a bounded wait for a clean exit. A server that
 * does not exit is killed and fails the test, as does one that exits with a code other than 0.
 */
const stop = (child: Child) =>
  Effect.gen(function*() {
    if (child.hasExited()) return
    child.process.kill("SIGTERM")
    // Finalizers run uninterruptibly: the wait must be made interruptible for the timeout to end it.
    const exited = yield* Effect.timeoutOption(Effect.interruptible(child.exited), STOP_BOUND)
    if (Option.isNone(exited)) {
      child.process.kill("SIGKILL")
      yield* child.exited
      return yield* Effect.dieMessage(
        `the server did not exit within ${STOP_BOUND} of SIGTERM and was killed; stderr:\n${child.stderr()}`
      )
    }
    if (exited.value.code !== 0) {
      return yield* Effect.dieMessage(
        `the server exited with code ${exited.value.code} (signal ${exited.value.signal}) after SIGTERM, ` +
          `expected 0; stderr:\n${child.stderr()}`
      )
    }
  })

/**
 * Starts the built server on 127.0.0.1 and a free port, serving `dir`, and returns once it is
 * listening (as its log says). It is stopped with SIGTERM when the scope closes.
 */
export const startServer = (
  dir: string,
  extraArgs: ReadonlyArray<string> = [],
  options: Pick<SpawnOptions, "env"> & { readonly port?: number } = {}
): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      spawnChild(SERVER_BIN, [HOST, options.port ?? 0, dir, ...extraArgs], options),
      stop
    )
    const port = yield* child.waitForStderr((stderr) => LISTENING.exec(stderr)?.[1]).pipe(
      Effect.orDie,
      bounded("15 seconds", "waiting for the server to listen")
    )
    return {
      port: Number(port),
      process: child.process,
      stderr: child.stderr,
      exited: child.exited,
      hasExited: child.hasExited,
      waitForStderr: child.waitForStderr
    }
  })

/** The HTTP door's port (`--http`), from the server's line saying where it listens. */
export const httpPort = (server: Server): number => {
  const match = /listening on \S+ .*http=127\.0\.0\.1:(\d+)/.exec(server.stderr())
  expect(match, `no http address in the server's log:\n${server.stderr()}`).not.toBeNull()
  return Number(match![1])
}

/** The workers' ports and pids, from the primary's line once every worker of `--workers N` listens. */
export const workersOf = (server: Server) =>
  server.waitForStderr((log) => {
    const match = /(\d+) workers listening on (.*) pids="([\d ]+)"/.exec(log)
    if (match === null) return undefined
    const ports = [...match[2]!.matchAll(/127\.0\.0\.1:(\d+)/g)].map((found) => Number(found[1]))
    return { ports, pids: match[3]!.split(" ").map(Number) }
  }).pipe(Effect.orDie, bounded("20 seconds", "waiting for every worker to listen"))

/** `startServer` with the HTTP door on a free port too: the server, and the door's base URL. */
export const startHttpServer = (
  dir: string,
  extraArgs: ReadonlyArray<string> = [],
  options: { readonly scheme?: "http" | "https" } = {}
): Effect.Effect<{ readonly server: Server; readonly url: string }, never, Scope.Scope> =>
  Effect.map(startServer(dir, ["--http", `${HOST}:0`, ...extraArgs]), (server) => ({
    server,
    url: `${options.scheme ?? "http"}://${HOST}:${httpPort(server)}`
  }))

/** Each stderr line, without the final newline. */
export const lines = (text: string): Array<string> => text.trimEnd().split("\n")

/** A failing command says why in exactly one line on stderr, with no stack trace. */
export const expectOneLine = (stderr: string) => {
  expect(stderr.trim(), "stderr should say what went wrong").not.toBe("")
  expect(lines(stderr), `expected one line on stderr, got:\n${stderr}`).toHaveLength(1)
  expect(stderr).not.toMatch(/^\s+at /m)
}

// Files

/** A directory under the system's temporary directory, removed with everything in it when the scope closes. */
export const tempDir = (prefix = "ferry-e2e-"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
  )

/** Writes `size` random bytes to `file` (creating its directory) and returns their SHA-256, in hex. */
export const writeRandomFile = (file: string, size: number): Effect.Effect<string> =>
  Effect.map(RandomFiles.writeRandomFile(file, size), (digests) => digests.sha256.toString("hex"))

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** A directory made once for a file's tests, holding `big.bin`: random bytes, and their SHA-256 in hex. */
export class BigFile extends Context.Tag("e2e/BigFile")<BigFile, { readonly dir: string; readonly sha256: string }>() {}

export const bigFile = (size: number): Layer.Layer<BigFile> =>
  Layer.scoped(
    BigFile,
    Effect.gen(function*() {
      const dir = yield* tempDir("ferry-e2e-big-")
      return { dir, sha256: yield* writeRandomFile(path.join(dir, "big.bin"), size) }
    })
  )

/** The SHA-256 of a file's contents, in hex, read as a stream. */
export const sha256File = (file: string): Effect.Effect<string> =>
  Effect.map(RandomFiles.fileDigests(file), (digests) => digests.sha256.toString("hex"))

export const listDir = (dir: string): Effect.Effect<Array<string>> =>
  Effect.promise(() => fsp.readdir(dir)).pipe(Effect.map((names) => names.sort()))

// Ports

/** A port that something else is listening on, for as long as the scope lasts. */
export const occupiedPort: Effect.Effect<number, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const server = Net.createServer()
    server.listen(0, HOST, () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** A port that nothing listens on (it was free a moment ago). */
export const unusedPort: Effect.Effect<number> = Effect.scoped(occupiedPort)

/** Whether a connection to `port` is refused right now (an accepted one is closed at once). */
export const isRefused = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = Net.createConnection({ host: HOST, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code === "ECONNREFUSED")))
    return Effect.sync(() => socket.destroy())
  })

/**
 * A benchmark run's working directory: the files the servers serve (random bytes, each written once
 * and remembered with its SHA-256), a destination directory on the same file system, and the built
 * ferry server started on a port of its choosing. Everything is removed when the run ends.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type Digests, fileDigests, writeRandomFile } from "../../test/support/randomFiles.js"
import * as ServerProcess from "../soak/ServerProcess.js"
import { BenchError } from "./Processes.js"

export const HOST = ServerProcess.HOST
// dist/bench/perf.js, next to dist/bin/.
export const SERVER_BIN = fileURLToPath(new URL("../bin/server.js", import.meta.url))
export const CLIENT_BIN = fileURLToPath(new URL("../bin/client.js", import.meta.url))

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

export interface SourceFile {
  /** The name a client asks for: a path relative to the served directory. */
  readonly name: string
  readonly path: string
  readonly size: number
  /** Its SHA-256. */
  readonly digest: Buffer
  readonly digests: Digests
}

export interface Workspace {
  readonly root: string
  /** The directory the servers (ferry and nginx) serve. */
  readonly files: string
  /** Where downloads to disk go: the same file system as `files`. */
  readonly dest: string
  /** Shorter runs, fewer repetitions: for trying the harness, not for figures. */
  readonly quick: boolean
  /** The file `name` of `size` random bytes, written on first use. */
  readonly file: (name: string, size: number) => Effect.Effect<SourceFile>
  /** The built server on a free port, stopped with SIGTERM (then killed) when the scope closes. */
  readonly startServer: (
    args: ReadonlyArray<string>
  ) => Effect.Effect<ServerProcess.ServerProcess, ServerProcess.ServerFailed, Scope.Scope>
}

/** The SHA-256 of a file on disk, to check what a download left there. */
export const digestOf = (file: string) => Effect.map(fileDigests(file), (digests) => digests.sha256)

export const make = (options: { readonly quick: boolean; readonly profileDir: string | undefined }) =>
  Effect.gen(function*() {
    const root = yield* Effect.acquireRelease(
      Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), "ferry-perf-"))),
      (dir) =>
        Effect.zipRight(
          Console.error(`ferry-perf: removing ${dir}`),
          Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
        )
    )
    const files = path.join(root, "files")
    const dest = path.join(root, "dest")
    yield* Effect.promise(() => Promise.all([fsp.mkdir(files), fsp.mkdir(dest)]))
    yield* Console.error(`ferry-perf: working in ${root}`)

    const made = new Map<string, SourceFile>()
    const file = (name: string, size: number) =>
      Effect.suspend(() => {
        const known = made.get(name)
        if (known !== undefined) {
          return known.size === size ? Effect.succeed(known) : Effect.dieMessage(`${name}: two sizes asked`)
        }
        const at = path.join(files, name)
        return writeRandomFile(at, size).pipe(
          Effect.map((digests) => ({ name, path: at, size, digest: digests.sha256, digests })),
          Effect.tap((source) => Effect.sync(() => made.set(name, source)))
        )
      })

    let servers = 0
    const startServer = (args: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const logFile = path.join(root, `server-${++servers}.log`)
        const server = yield* withProfiling(
          root,
          options.profileDir,
          ServerProcess.start({ bin: SERVER_BIN, dir: files, port: 0, logFile, args })
        )
        // Runs before the start's own release (which kills): a clean stop, so a profile is written.
        yield* Effect.addFinalizer(() => Effect.ignore(server.stop("15 seconds")))
        return server
      })

    return { root, files, dest, quick: options.quick, file, startServer } satisfies Workspace
  })

/**
 * With a profile directory, the server is started with a module preloaded (through NODE_OPTIONS, which
 * the soak's ServerProcess passes on, and which refuses `--cpu-prof`) that profiles it with the
 * inspector and writes the profile when it exits. Nothing else is spawned while it starts.
 */
const withProfiling = <A, E, R>(root: string, profileDir: string | undefined, start: Effect.Effect<A, E, R>) => {
  if (profileDir === undefined) return start
  const preload = path.join(root, "cpu-profile.mjs")
  return Effect.acquireUseRelease(
    Effect.promise(async () => {
      await fsp.writeFile(preload, profiler(profileDir))
      const before = process.env.NODE_OPTIONS
      process.env.NODE_OPTIONS = `${before ?? ""} --import=${pathToFileURL(preload).href}`.trim()
      return before
    }),
    () => start,
    (before) =>
      Effect.sync(() => {
        if (before === undefined) delete process.env.NODE_OPTIONS
        else process.env.NODE_OPTIONS = before
      })
  )
}

const profiler = (dir: string) => `
import { Session } from "node:inspector"
import { writeFileSync } from "node:fs"
const session = new Session()
session.connect()
session.post("Profiler.enable")
session.post("Profiler.start")
// On the main thread the inspector answers synchronously, so this works in an exit handler.
process.on("exit", () => session.post("Profiler.stop", (error, result) => {
  if (!error) writeFileSync(${
  JSON.stringify(dir)
} + "/server-" + process.pid + ".cpuprofile", JSON.stringify(result.profile))
}))
`

/** Fails with a BenchError unless `ok`: for checks the figures depend on. */
export const ensure = (ok: boolean, detail: string) => ok ? Effect.void : Effect.fail(new BenchError({ detail }))

/** The server's statistics, asked on a connection of their own. */
export const statsOf = (server: ServerProcess.ServerProcess) =>
  Effect.mapError(server.stats, (error) => new BenchError({ detail: `asking the server's stats: ${error.message}` }))

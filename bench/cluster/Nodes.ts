/**
 * The three ferry servers behind the balancer: the built server, started as the soak starts it, on
 * free ports of loopback, all serving one directory, each with a metrics port for the balancer's
 * health checks and, in HTTP mode, an HTTP door. What each holds is asked of it directly.
 */
import * as Effect from "effect/Effect"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { list } from "../../src/programs/client/inquire.js"
import { SocketClient } from "../../src/services/SocketClient.js"
import * as ServerProcess from "../soak/ServerProcess.js"

export interface Node {
  /** As HAProxy's configuration names it: n1, n2, n3. */
  readonly name: string
  readonly port: number
  readonly metricsPort: number
  /** The HTTP door's port, when started with one. */
  readonly httpPort: number | undefined
  /** Files read from disk into the cache (`loads`) and files sent from it (`hits`). */
  readonly counters: Effect.Effect<{ readonly loads: number; readonly hits: number }, ServerProcess.ServerFailed>
  /** The names in its cache (LIST). */
  readonly cached: Effect.Effect<ReadonlySet<string>, ServerProcess.ServerFailed>
}

export const NAMES = ["n1", "n2", "n3"] as const

const addressIn = (log: string, key: string) => {
  const found = new RegExp(`listening on .* ${key}=127\\.0\\.0\\.1:(\\d+)`).exec(log)?.[1]
  return found === undefined ? undefined : Number(found)
}

const failed = (what: string) => (error: { readonly message: string }) =>
  new ServerProcess.ServerFailed({ detail: `${what}: ${error.message}` })

const startNode = (options: {
  readonly name: string
  readonly bin: string
  readonly filesDir: string
  readonly workDir: string
  readonly http: boolean
}) =>
  Effect.gen(function*() {
    const server = yield* ServerProcess.start({
      bin: options.bin,
      dir: options.filesDir,
      port: 0,
      logFile: path.join(options.workDir, `${options.name}.log`),
      args: ["--metrics", "127.0.0.1:0", ...(options.http ? ["--http", "127.0.0.1:0"] : [])]
    })
    const log = yield* Effect.promise(() => fsp.readFile(server.logFile, "utf8"))
    const metricsPort = addressIn(log, "metrics")
    const httpPort = addressIn(log, "http")
    if (metricsPort === undefined || (options.http && httpPort === undefined)) {
      return yield* new ServerProcess.ServerFailed({
        detail: `${options.name}: no ${metricsPort === undefined ? "metrics" : "http"} address in its log:\n${log}`
      })
    }
    const address = { host: ServerProcess.HOST, port: server.port, timeout: "10 seconds" } as const
    const asked = Effect.provideService(SocketClient, yield* SocketClient)
    return {
      name: options.name,
      port: server.port,
      metricsPort,
      httpPort,
      counters: Effect.map(server.stats, (stats) => ({ loads: stats.loads ?? 0, hits: stats.hits ?? 0 })).pipe(
        Effect.mapError(failed(`${options.name} stats`)),
        asked
      ),
      cached: Effect.map(list(address), ({ entries }) => new Set(entries.map((entry) => entry.name))).pipe(
        Effect.mapError(failed(`${options.name} list`)),
        asked
      )
    } satisfies Node
  })

/** The three nodes, stopped (killed) with the scope. */
export const startAll = (options: {
  readonly bin: string
  readonly filesDir: string
  readonly workDir: string
  readonly http: boolean
}) => Effect.forEach(NAMES, (name) => startNode({ ...options, name }), { concurrency: "unbounded" })

/**
 * HAProxy as a child process, run with one of the configurations in deploy/ and the addresses of
 * this run in its environment (the configurations read them with `${VAR}`), and its runtime API:
 * which servers it sees up, and taking one out (`disable server`), as an operator would.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import * as fsp from "node:fs/promises"
import * as Net from "node:net"

export class HAProxyFailed extends Data.TaggedError("HAProxyFailed")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

/** A port no one listens on now, for HAProxy's frontend (HAProxy has no "port 0, tell me"). */
export const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** One command on the runtime API socket; the socket answers and closes. */
const runtimeCommand = (socket: string, command: string) =>
  Effect.async<string, HAProxyFailed>((resume) => {
    let answer = ""
    const connection = Net.createConnection(socket, () => connection.end(`${command}\n`))
    connection.setEncoding("utf8").on("data", (text: string) => answer += text)
    connection.on(
      "error",
      (error) => resume(Effect.fail(new HAProxyFailed({ detail: `${command}: ${error.message}` })))
    )
    connection.on("close", () => resume(Effect.succeed(answer)))
    return Effect.sync(() => connection.destroy())
  })

/** Each server's status in `backend` (UP, DOWN, MAINT, ...), from `show stat`. */
const statuses = (socket: string, backend: string) =>
  Effect.map(runtimeCommand(socket, "show stat"), (csv) => {
    const [header = "", ...rows] = csv.trim().split("\n")
    const columns = header.replace(/^# /, "").split(",")
    const status = columns.indexOf("status")
    const found = new Map<string, string>()
    for (const row of rows.map((line) => line.split(","))) {
      if (row[0] === backend && row[1] !== "BACKEND") found.set(row[1]!, row[status]!)
    }
    return found
  })

export interface HAProxy {
  readonly port: number
  /** Waits (bounded) until HAProxy's health checks see every server in `servers` with `status`. */
  readonly awaitStatus: (servers: ReadonlyArray<string>, status: string) => Effect.Effect<void, HAProxyFailed>
  /** `disable server BACKEND/NAME`: the server goes into maintenance, and out of the hash ring. */
  readonly disable: (server: string) => Effect.Effect<void, HAProxyFailed>
}

export const start = (options: {
  readonly config: string
  readonly backend: string
  readonly socket: string
  readonly logFile: string
  /** The configuration's variables, FERRY_LB_BIND and FERRY_LB_SOCKET aside. */
  readonly env: Readonly<Record<string, string>>
}) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const log = yield* Effect.promise(() => fsp.open(options.logFile, "w"))
    /** How it ended: an exit code or signal, or why it could not start. */
    const exited = yield* Deferred.make<string>()
    const env = {
      ...process.env,
      ...options.env,
      FERRY_LB_BIND: `127.0.0.1:${port}`,
      FERRY_LB_SOCKET: options.socket
    }
    yield* Effect.acquireRelease(
      Effect.try({
        // -db: in the foreground, not a daemon, so that it stops with this program.
        try: () => {
          const child = spawn("haproxy", ["-db", "-f", options.config], { stdio: ["ignore", log.fd, log.fd], env })
          child.on("exit", (code, signal) => Deferred.unsafeDone(exited, Effect.succeed(`code ${code ?? signal}`)))
          child.on("error", (error) => Deferred.unsafeDone(exited, Effect.succeed(error.message)))
          return child
        },
        catch: (error) => new HAProxyFailed({ detail: `haproxy: ${String(error)}` })
      }),
      (child) =>
        Effect.gen(function*() {
          if (!(yield* Deferred.isDone(exited))) {
            child.kill("SIGTERM")
            const done = yield* Effect.timeoutOption(Deferred.await(exited), "5 seconds")
            if (done._tag === "None") {
              child.kill("SIGKILL")
              yield* Deferred.await(exited)
            }
          }
          yield* Effect.promise(() => log.close())
        })
    )
    const exitedEarly = Effect.flatMap(Deferred.poll(exited), (done) =>
      done._tag === "None" ? Effect.void : Effect.gen(function*() {
        const how = yield* done.value
        const text = yield* Effect.promise(() =>
          fsp.readFile(options.logFile, "utf8")
        )
        return yield* new HAProxyFailed({ detail: `haproxy exited (${how}):\n${text}` })
      }))

    const awaitStatus = (servers: ReadonlyArray<string>, status: string) =>
      Effect.gen(function*() {
        yield* exitedEarly
        const seen = yield* statuses(options.socket, options.backend)
        const others = servers.filter((server) => seen.get(server) !== status)
        if (others.length > 0) {
          return yield* new HAProxyFailed({
            detail: `not ${status}: ${others.map((server) => `${server} ${seen.get(server) ?? "unknown"}`).join(", ")}`
          })
        }
      }).pipe(
        Effect.retry({
          schedule: Schedule.spaced("100 millis"),
          while: (error) => !error.detail.startsWith("haproxy")
        }),
        Effect.timeoutFail({
          duration: "15 seconds",
          onTimeout: () => new HAProxyFailed({ detail: `HAProxy did not see ${servers.join(", ")} ${status} in 15 s` })
        })
      )

    return {
      port,
      awaitStatus,
      disable: (server) =>
        Effect.zipRight(
          runtimeCommand(options.socket, `disable server ${options.backend}/${server}`),
          awaitStatus([server], "MAINT")
        )
    } satisfies HAProxy
  })

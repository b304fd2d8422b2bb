/**
 * The built server as a child process, as an operator runs it: started on a port of its choosing,
 * its log written to a file (so that it never waits on the soak to read it), its memory read from
 * /proc, its statistics asked over the protocol, and stopped with SIGTERM.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { stats } from "../../src/programs/client/inquire.js"

export const HOST = "127.0.0.1"

export class ServerFailed extends Data.TaggedError("ServerFailed")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface ServerProcess {
  readonly pid: number
  readonly port: number
  readonly logFile: string
  /** The resident set size in bytes, from /proc/PID/status; `None` once the process is gone. */
  readonly rss: Effect.Effect<Option.Option<number>>
  /** The server's statistics, asked on a connection of their own. */
  readonly stats: ReturnType<typeof stats>
  /** SIGTERM, then waits (bounded) for the exit; a process that does not exit is killed. */
  readonly stop: (bound: Duration.DurationInput) => Effect.Effect<Exited & { readonly millis: number }, ServerFailed>
}

const LISTENING = /listening on 127\.0\.0\.1:(\d+)/

export const start = (options: {
  readonly bin: string
  readonly dir: string
  readonly port: number
  readonly logFile: string
  readonly args: ReadonlyArray<string>
}) =>
  Effect.gen(function*() {
    if (!existsSync(options.bin)) {
      return yield* new ServerFailed({ detail: `${options.bin} not found: run \`npm run build\`` })
    }
    const log = yield* Effect.promise(() => fsp.open(options.logFile, "w"))
    const exited = yield* Deferred.make<Exited>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // Settings from the environment must not change what the soak measures.
        const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("FERRY_")))
        const child = spawn(
          process.execPath,
          [options.bin, HOST, String(options.port), options.dir, ...options.args],
          { stdio: ["ignore", "ignore", log.fd], env }
        )
        child.on("exit", (code, signal) => Deferred.unsafeDone(exited, Effect.succeed({ code, signal })))
        return child
      }),
      (child) =>
        Effect.gen(function*() {
          if (!(yield* Deferred.isDone(exited))) {
            child.kill("SIGKILL")
            yield* Deferred.await(exited)
          }
          yield* Effect.promise(() => log.close())
        })
    )

    const readLog = Effect.promise(() => fsp.readFile(options.logFile, "utf8"))
    const port = yield* readLog.pipe(
      Effect.flatMap((text) => {
        const found = LISTENING.exec(text)?.[1]
        if (found !== undefined) return Effect.succeed(Number(found))
        return Effect.flatMap(
          Deferred.isDone(exited),
          (done) =>
            done
              ? Effect.fail(new ServerFailed({ detail: `the server exited before listening:\n${text}` }))
              : Effect.fail(new ServerFailed({ detail: "not listening yet" }))
        )
      }),
      Effect.retry({
        schedule: Schedule.spaced("50 millis"),
        while: (error) => error.detail === "not listening yet"
      }),
      Effect.timeoutFail({
        duration: "15 seconds",
        onTimeout: () => new ServerFailed({ detail: "the server did not say it was listening within 15 s" })
      })
    )

    const rss = Effect.promise(() => fsp.readFile(`/proc/${child.pid}/status`, "utf8").catch(() => "")).pipe(
      Effect.map((status) => {
        const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
        return kib === undefined ? Option.none() : Option.some(Number(kib) * 1024)
      })
    )

    const stop = (bound: Duration.DurationInput) =>
      Effect.gen(function*() {
        const started = Date.now()
        child.kill("SIGTERM")
        const done = yield* Effect.timeoutOption(Deferred.await(exited), bound)
        if (Option.isNone(done)) {
          child.kill("SIGKILL")
          yield* Deferred.await(exited)
          return yield* new ServerFailed({
            detail: `the server did not exit within ${Duration.format(Duration.decode(bound))} of SIGTERM: killed`
          })
        }
        return { ...done.value, millis: Date.now() - started }
      })

    return {
      pid: child.pid!,
      port,
      logFile: path.resolve(options.logFile),
      rss,
      stats: stats({ host: HOST, port, timeout: "30 seconds" }),
      stop
    } satisfies ServerProcess
  })

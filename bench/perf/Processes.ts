/**
 * The processes a benchmark runs besides the in-process clients: tools looked up on PATH (with the
 * command that installs a missing one), programs kept running for a scenario and stopped with its
 * scope, and commands timed from spawn to exit.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import { accessSync, constants } from "node:fs"
import * as fsp from "node:fs/promises"
import * as Net from "node:net"
import * as path from "node:path"

/** The harness could not measure something: a scenario that fails with it has no figure. */
export class BenchError extends Data.TaggedError("BenchError")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

/** The Debian package that provides each tool a baseline needs. */
const PACKAGES = {
  iperf3: "iperf3",
  nginx: "nginx-light",
  wrk: "wrk",
  curl: "curl",
  hyperfine: "hyperfine",
  sync: "coreutils",
  python3: "python3",
  openssl: "openssl"
} as const
export type Tool = keyof typeof PACKAGES

/** The tool's path, or `None` if it is not on PATH. */
export const which = (tool: Tool): Option.Option<string> => {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, tool)
    try {
      accessSync(candidate, constants.X_OK)
      return Option.some(candidate)
    } catch {
      // Not in this directory.
    }
  }
  return Option.none()
}

export const installHint = (tool: Tool): string => `apt-get install -y ${PACKAGES[tool]}`

/** A port nobody listens on right now, for a baseline server that cannot pick its own. */
export const freePort: Effect.Effect<number> = Effect.async((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as Net.AddressInfo
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** Waits (bounded) until something accepts connections on the port. */
export const awaitPort = (port: number, what: string, logFile: string) =>
  Effect.async<void, BenchError>((resume) => {
    const socket = Net.createConnection({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (error) => resume(Effect.fail(new BenchError({ detail: error.message }))))
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({
      duration: "10 seconds",
      onTimeout: () =>
        new BenchError({ detail: `${what} did not accept connections on port ${port} within 10 s (see ${logFile})` })
    })
  )

/** Waits (bounded) until a line matching `pattern` appears in a log file. */
export const awaitLog = (file: string, pattern: RegExp, what: string) =>
  Effect.promise(() => fsp.readFile(file, "utf8").catch(() => "")).pipe(
    Effect.filterOrFail((text) => pattern.test(text), () => new BenchError({ detail: `${what} is not ready` })),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({
      duration: "10 seconds",
      onTimeout: () => new BenchError({ detail: `${what} did not say it was ready within 10 s (see ${file})` })
    }),
    Effect.asVoid
  )

export interface Background {
  readonly pid: number
  readonly logFile: string
}

/**
 * Runs `command` until the scope closes, its output in `logFile`. Closing the scope sends SIGTERM,
 * then SIGKILL if it is still there after 5 s.
 */
export const background = (command: string, args: ReadonlyArray<string>, logFile: string) =>
  Effect.gen(function*() {
    const log = yield* Effect.acquireRelease(
      Effect.promise(() => fsp.open(logFile, "w")),
      (handle) => Effect.promise(() => handle.close())
    )
    const exited = yield* Deferred.make<void>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(command, args, { stdio: ["ignore", log.fd, log.fd] })
        child.on("exit", () => Deferred.unsafeDone(exited, Effect.void))
        child.on("error", () => Deferred.unsafeDone(exited, Effect.void))
        return child
      }),
      (child) =>
        Effect.gen(function*() {
          if (yield* Deferred.isDone(exited)) return
          child.kill("SIGTERM")
          const done = yield* Effect.timeoutOption(Deferred.await(exited), "5 seconds")
          if (Option.isNone(done)) {
            child.kill("SIGKILL")
            yield* Deferred.await(exited)
          }
        })
    )
    return { pid: child.pid ?? -1, logFile } satisfies Background
  })

export interface Finished {
  readonly code: number | null
  readonly millis: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command to its end and times it from spawn to exit (wall clock). Interrupted, it kills the
 * command. Output is kept (the first MiB of each stream) for parsing and error messages.
 */
export const timed = (command: string, args: ReadonlyArray<string>) =>
  Effect.async<Finished, BenchError>((resume) => {
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    const keep = (into: Array<Buffer>) => (chunk: Buffer) => {
      if (into.reduce((sum, b) => sum + b.length, 0) < 1024 * 1024) into.push(chunk)
    }
    const started = process.hrtime.bigint()
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] })
    child.stdout.on("data", keep(stdout))
    child.stderr.on("data", keep(stderr))
    child.on("error", (error) => resume(Effect.fail(new BenchError({ detail: `${command}: ${error.message}` }))))
    // Timed at the exit; reported once the output has been read to its end.
    let exitedAt = started
    child.on("exit", () => exitedAt = process.hrtime.bigint())
    child.on("close", (code) => {
      const millis = Number(exitedAt - started) / 1e6
      resume(Effect.succeed({
        code,
        millis,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8")
      }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** `timed`, failing unless the command exits 0. */
export const timedOk = (command: string, args: ReadonlyArray<string>) =>
  Effect.filterOrFail(
    timed(command, args),
    (finished) => finished.code === 0,
    (finished) =>
      new BenchError({
        detail: `${path.basename(command)} ${args.join(" ")} exited with code ${finished.code}: ` +
          finished.stderr.trim().slice(0, 500)
      })
  )

/** Clock ticks per second in /proc/PID/stat: 100 on Linux everywhere this runs. */
const CLOCK_TICKS = 100

export interface CpuTimes {
  /** CPU seconds (user + system) used by the process whose pid was given. */
  readonly process: number
  /** CPU seconds used by this harness (all its threads). */
  readonly harness: number
}

/** CPU time used so far by process `pid` (from /proc) and by the harness; subtract two to get a span's. */
export const cpuTimes = (pid: number): Effect.Effect<CpuTimes> =>
  Effect.promise(() => fsp.readFile(`/proc/${pid}/stat`, "utf8").catch(() => "")).pipe(
    Effect.map((stat) => {
      // The fields after the command name, which may itself hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const usage = process.cpuUsage()
      return {
        process: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
        harness: (usage.user + usage.system) / 1e6
      }
    })
  )

/**
 * CPU seconds used so far by the harness's children that have exited and been waited for (the
 * kernel adds a reaped child's times to its parent's): around one run of a command, what it used.
 */
export const exitedChildrenCpu: Effect.Effect<number> = Effect.promise(() => fsp.readFile("/proc/self/stat", "utf8"))
  .pipe(
    Effect.map((stat) => {
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS
    })
  )

export interface CpuUse {
  /** CPU seconds used by the process measured, and by the harness, over `wall` seconds. */
  readonly process: number
  readonly harness: number
  readonly wall: number
}

export const NO_CPU: CpuUse = { process: 0, harness: 0, wall: 0 }

/** Runs `effect` and returns what it returned with the CPU time `pid` and the harness used meanwhile. */
export const measuringCpu = <A, E, R>(pid: number, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* cpuTimes(pid)
    const started = performance.now()
    const result = yield* effect
    const wall = (performance.now() - started) / 1000
    const after = yield* cpuTimes(pid)
    const use: CpuUse = { process: after.process - before.process, harness: after.harness - before.harness, wall }
    return [result, use] as const
  })

export const addCpu = (a: CpuUse, b: CpuUse): CpuUse => ({
  process: a.process + b.process,
  harness: a.harness + b.harness,
  wall: a.wall + b.wall
})

/** `server 95%, harness 80% of a core`: the average use over the time measured. */
export const describeCpu = (use: CpuUse, name = "server") =>
  use.wall === 0
    ? "not measured"
    : `${name} ${percent(use.process, use.wall)}, harness ${percent(use.harness, use.wall)} of a core`

const percent = (seconds: number, wall: number) => `${Math.round((seconds / wall) * 100)}%`

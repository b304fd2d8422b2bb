/**
 * The baselines, from Debian's packages, on loopback: nginx serving the same directory as ferry
 * (one process, `sendfile on`), Python's `http.server` serving it too, an iperf3 server, and the wrk
 * and iperf3 clients that measure them.
 * A missing tool skips its baseline with the command that installs it.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import {
  awaitLog,
  awaitPort,
  background,
  BenchError,
  freePort,
  installHint,
  timedOk,
  type Tool,
  which
} from "./Processes.js"
import type { Skipped } from "./Report.js"
import type { Workspace } from "./Workspace.js"

/** `None` when every tool is installed; otherwise why the baseline is skipped (said on stderr too). */
export const missingTools = (...tools: ReadonlyArray<Tool>): Effect.Effect<Option.Option<Skipped>> =>
  Effect.gen(function*() {
    const missing = tools.filter((tool) => Option.isNone(which(tool)))
    if (missing.length === 0) return Option.none()
    const install = `apt-get install -y ${missing.map((tool) => installHint(tool).split(" ").at(-1)).join(" ")}`
    yield* Console.error(`ferry-perf: ${missing.join(", ")} not installed, baseline skipped; install: ${install}`)
    return Option.some({ skipped: `skipped: \`${install}\`` })
  })

const tool = (name: Tool) => Option.getOrElse(which(name), () => name)

/** nginx serving `workspace.files` on a free port until the scope closes; its address. */
export const nginx = (workspace: Workspace) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const dir = path.join(workspace.root, `nginx-${port}`)
    const config = path.join(dir, "nginx.conf")
    const log = path.join(dir, "nginx.log")
    yield* Effect.promise(() => fsp.mkdir(dir))
    yield* Effect.promise(() => fsp.writeFile(config, nginxConfig(dir, workspace.files, port)))
    const process = yield* background(tool("nginx"), ["-p", dir, "-e", log, "-c", config], log)
    yield* awaitPort(port, "nginx", log)
    return { port, pid: process.pid, url: `http://127.0.0.1:${port}` }
  })

// One process (no master): ferry's server is one Node process too. Temporary paths in `dir`, as
// nginx-light would otherwise use /var/lib/nginx. A line per request in an access log, as ferry's
// server logs one per request: each does what it does by default.
const nginxConfig = (dir: string, root: string, port: number) => `
daemon off;
master_process off;
${process.getuid?.() === 0 ? "user root;" : ""}
pid ${dir}/nginx.pid;
error_log ${dir}/nginx.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/access.log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`

/**
 * `python3 -m http.server` serving `workspace.files` on a free port until the scope closes: the
 * standard library's threading HTTP server, a baseline any Python install has. Its address.
 */
export const pythonHttp = (workspace: Workspace) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const log = path.join(workspace.root, `python-http-${port}.log`)
    const args = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", workspace.files]
    const process = yield* background(tool("python3"), args, log)
    yield* awaitPort(port, "python3 -m http.server", log)
    return { port, pid: process.pid, url: `http://127.0.0.1:${port}` }
  })

/** An iperf3 server on a free port until the scope closes; its port. */
export const iperf3Server = (workspace: Workspace) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const log = path.join(workspace.root, `iperf3-${port}.log`)
    yield* background(tool("iperf3"), ["-s", "-B", "127.0.0.1", "-p", String(port), "--forceflush"], log)
    yield* awaitLog(log, /Server listening/, "iperf3")
    return port
  })

/** One iperf3 test of `seconds`, one stream over loopback: what the receiver got, in MB/s (10^6). */
export const iperf3Rate = (port: number, seconds: number) =>
  timedOk(tool("iperf3"), ["-c", "127.0.0.1", "-p", String(port), "-t", String(seconds), "-J"]).pipe(
    Effect.flatMap((finished) =>
      Effect.try({
        try: () => (JSON.parse(finished.stdout).end.sum_received.bits_per_second as number) / 8 / 1e6,
        catch: () => new BenchError({ detail: `iperf3 printed no result: ${finished.stdout.slice(0, 300)}` })
      })
    )
  )

/**
 * A wrk script that GETs `paths` in turn, each thread starting at another place in the list. The
 * requests are formatted in `init`: at load time wrk has no Host header yet (nginx answers 400).
 */
export const wrkScript = (file: string, paths: ReadonlyArray<string>) =>
  Effect.promise(() =>
    fsp.writeFile(
      file,
      [
        `local paths = { ${paths.map((p) => `"/${p}"`).join(", ")} }`,
        "local requests = {}",
        "local threads = 0",
        "function setup(thread)",
        `  thread:set("i", threads * ${Math.floor(paths.length / 2)})`,
        "  threads = threads + 1",
        "end",
        "function init(args)",
        "  for k, path in ipairs(paths) do requests[k] = wrk.format(\"GET\", path) end",
        "end",
        "function request()",
        `  i = i % ${paths.length} + 1`,
        "  return requests[i]",
        "end",
        ""
      ].join("\n")
    )
  )

export interface WrkResult {
  readonly requestsPerSecond: number
  /** Requests completed in the run. */
  readonly requests: number
  /** Socket errors, as wrk reported them; empty when there were none. */
  readonly problems: ReadonlyArray<string>
}

/** wrk with 2 threads; fails if any response was not a success (the figure would count errors). */
export const wrk = (url: string, script: string, connections: number, seconds: number) =>
  timedOk(tool("wrk"), ["-t2", `-c${connections}`, `-d${seconds}s`, "-s", script, url]).pipe(
    Effect.flatMap((finished): Effect.Effect<WrkResult, BenchError> => {
      const rate = /Requests\/sec:\s+([\d.]+)/.exec(finished.stdout)?.[1]
      const requests = /(\d+) requests in/.exec(finished.stdout)?.[1]
      const failures = /Non-2xx or 3xx responses: (\d+)/.exec(finished.stdout)?.[1]
      if (rate === undefined || requests === undefined || failures !== undefined) {
        return Effect.fail(
          new BenchError({ detail: `wrk: ${finished.stdout.trim().split("\n").slice(-4).join("; ")}` })
        )
      }
      const problems = finished.stdout.split("\n").filter((line) => line.includes("Socket errors"))
      return Effect.succeed({
        requestsPerSecond: Number(rate),
        requests: Number(requests),
        problems: problems.map((line) => line.trim())
      })
    })
  )

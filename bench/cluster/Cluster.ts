/**
 * `npm run cluster`: HAProxy in front of three ferry servers, with the configurations in deploy/,
 * shown to balance by file name: every file fetched a few times through HAProxy is cached by one
 * node only, and taking a node out of HAProxy moves that node's files, and only those, each to one
 * of the two others. Everything runs on loopback, on free ports, and stops with the program.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { exitWith } from "../../src/cli/ExitCode.js"
import * as NodeSocketClient from "../../src/layers/NodeSocketClient.js"
import * as Fetch from "./Fetch.js"
import * as HAProxy from "./HAProxy.js"
import * as Nodes from "./Nodes.js"
import * as Ownership from "./Ownership.js"

const PROGRAM = "ferry-cluster"
// dist/bench/cluster.js, next to dist/bin/ and under the repository's deploy/.
const SERVER_BIN = fileURLToPath(new URL("../bin/server.js", import.meta.url))
const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url))

type Mode = "tcp" | "http"

interface File {
  readonly name: string
  readonly size: number
}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), "ferry-cluster-"))),
  (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
)

/** `count` small files of random bytes, 1 to 64 KiB, named f01.bin, f02.bin, ... */
const makeFiles = (dir: string, count: number) =>
  Effect.promise(async () => {
    await fsp.mkdir(dir, { recursive: true })
    const width = String(count).length
    const files: Array<File> = []
    for (let i = 1; i <= count; i++) {
      const file = {
        name: `f${String(i).padStart(width, "0")}.bin`,
        size: 1024 + Math.floor(Math.random() * 63 * 1024)
      }
      await fsp.writeFile(path.join(dir, file.name), randomBytes(file.size))
      files.push(file)
    }
    return files
  })

/** Why the HTTP mode cannot run yet, if it cannot: the built server has no --http. */
const httpUnavailable = (): string | undefined => {
  const help = spawnSync(process.execPath, [SERVER_BIN, "--help"], { encoding: "utf8" })
  return help.stdout.includes("--http")
    ? undefined
    : "dist/bin/server.js --help does not mention --http: the HTTP door is not in this build"
}

const haproxyMissing = (): boolean => spawnSync("haproxy", ["-v"]).error !== undefined

const snapshot = (nodes: ReadonlyArray<Nodes.Node>) =>
  Effect.map(
    Effect.forEach(nodes, (node) => Effect.zip(node.counters, node.cached)),
    (states): Ownership.Snapshot =>
      new Map(states.map(([{ hits, loads }, cached], i) => [nodes[i]!.name, { cached, loads, hits }]))
  )

/**
 * Every file once through the balancer. Native: a connection per file, as the client opens,
 * D and the AUTH varying with the file and the round. HTTP: all of them on one connection.
 */
const fetchAll = (mode: Mode, port: number, files: ReadonlyArray<File>, round: number) =>
  mode === "tcp"
    ? Effect.as(
      Effect.forEach(files, (file, i) =>
        Fetch.nativeGet({
          port,
          name: file.name,
          size: file.size,
          idCount: 1 + (i + round) % 16,
          ...(round % 2 === 1 ? { token: "any-token-will-do" } : {})
        }), { concurrency: 8, discard: true }),
      `${files.length} connections`
    )
    : Effect.scoped(Effect.gen(function*() {
      const agent = yield* Fetch.oneConnection
      let reused = 0
      for (const file of files) if (yield* Fetch.httpGet(agent, port, file.name, file.size)) reused++
      return `${files.length} requests, ${reused} of them on a connection already used`
    }))

const runMode = (
  mode: Mode,
  options: { readonly filesDir: string; readonly workDir: string; readonly rounds: number },
  files: ReadonlyArray<File>
) =>
  Effect.scoped(Effect.gen(function*() {
    const workDir = path.join(options.workDir, mode)
    yield* Effect.promise(() => fsp.mkdir(workDir))
    const nodes = yield* Nodes.startAll({ bin: SERVER_BIN, filesDir: options.filesDir, workDir, http: mode === "http" })
    const env: Record<string, string> = { FERRY_DEPLOY: DEPLOY }
    nodes.forEach((node, i) => {
      env[`FERRY_NODE${i + 1}`] = `127.0.0.1:${node.port}`
      env[`FERRY_NODE${i + 1}_HTTP`] = `127.0.0.1:${node.httpPort ?? 0}`
      env[`FERRY_NODE${i + 1}_METRICS`] = String(node.metricsPort)
    })
    const backend = mode === "tcp" ? "ferry" : "ferry_http"
    const haproxy = yield* HAProxy.start({
      config: path.join(DEPLOY, `haproxy-${mode}.cfg`),
      backend,
      socket: path.join(workDir, "haproxy.sock"),
      logFile: path.join(workDir, "haproxy.log"),
      env
    })
    const names = nodes.map((node) => node.name)
    yield* haproxy.awaitStatus(names, "UP")
    yield* Console.error(
      `${PROGRAM}: ${mode}: HAProxy on 127.0.0.1:${haproxy.port} sees ${names.join(", ")} up ` +
        `(ports ${nodes.map((node) => mode === "tcp" ? node.port : node.httpPort).join(", ")})`
    )

    const fetchRounds = Effect.gen(function*() {
      let how = ""
      for (let round = 0; round < options.rounds; round++) how = yield* fetchAll(mode, haproxy.port, files, round)
      return how
    })
    const how = yield* fetchRounds
    const before = yield* snapshot(nodes)
    // The node with the most files: the removal that moves the most.
    const removed = [...before].sort(([, a], [, b]) => b.cached.size - a.cached.size)[0]![0]
    yield* haproxy.disable(removed)
    yield* Console.error(`${PROGRAM}: ${mode}: disable server ${backend}/${removed}: HAProxy sees it MAINT`)
    yield* fetchRounds
    const after = yield* snapshot(nodes)

    const fileNames = files.map((file) => file.name)
    const checks = [
      ...Ownership.spreadChecks(before, fileNames, options.rounds),
      ...Ownership.removalChecks(before, after, removed, fileNames, options.rounds)
    ]
    const moved = Ownership.takenOver(before, after, removed, fileNames)
    const movedCount = [...moved.values()].reduce((total, list) => total + list.length, 0)
    const lines = [
      "",
      `${mode.toUpperCase()} mode (deploy/haproxy-${mode}.cfg): ${files.length} files, each fetched ` +
      `${options.rounds} times through HAProxy, then ${options.rounds} times more with ${removed} taken out; ` +
      `a round: ${how}`,
      ...Ownership.table(before, after, removed, fileNames),
      `  moved on removal: ${movedCount} of ${files.length} files (${removed} had ${
        before.get(removed)!.cached.size
      }); the other ${files.length - movedCount} kept their node`,
      ...checks.map((check) => `  [${check.ok ? "ok" : "FAIL"}] ${check.what}: ${check.detail}`)
    ]
    return { mode, lines, failed: checks.filter((check) => !check.ok).map((check) => `${mode}: ${check.what}`) }
  }))

const cluster = (
  options: { readonly mode: "tcp" | "http" | "both"; readonly files: number; readonly rounds: number }
) =>
  Effect.gen(function*() {
    if (haproxyMissing()) {
      return yield* exitWith(PROGRAM, 1, "haproxy not found: apt-get install haproxy (.ci/run installs it)")
    }
    const dir = yield* tempDir
    const filesDir = path.join(dir, "files")
    const files = yield* makeFiles(filesDir, options.files)
    const modes: Array<Mode> = options.mode === "both" ? ["tcp", "http"] : [options.mode]
    const failed: Array<string> = []
    for (const mode of modes) {
      const unavailable = mode === "http" ? httpUnavailable() : undefined
      if (unavailable !== undefined) {
        yield* Console.log(`\nHTTP mode: skipped: ${unavailable}`)
        continue
      }
      const result = yield* runMode(mode, { filesDir, workDir: dir, rounds: options.rounds }, files)
      yield* Console.log(result.lines.join("\n"))
      failed.push(...result.failed)
    }
    yield* Console.log(failed.length === 0 ? "\nPASS" : "\nFAIL")
    if (failed.length > 0) return yield* exitWith(PROGRAM, 1, `failed: ${failed.join("; ")}`)
  }).pipe(
    Effect.scoped,
    Effect.provide(NodeSocketClient.layer),
    Effect.catchTags({
      ServerFailed: (error) => exitWith(PROGRAM, 1, error.message),
      HAProxyFailed: (error) => exitWith(PROGRAM, 1, error.message),
      FetchFailed: (error) => exitWith(PROGRAM, 1, error.message)
    })
  )

const atLeast = (minimum: number, option: string) => (n: number) =>
  n >= minimum
    ? Effect.succeed(n)
    : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${option} must be at least ${minimum}`)))

export const command = Command.make(
  PROGRAM,
  {
    mode: Options.choice("mode", ["tcp", "http", "both"]).pipe(
      Options.withDefault("both"),
      Options.withDescription("TCP mode (native protocol), HTTP mode (the HTTP door), or one after the other.")
    ),
    files: Options.integer("files").pipe(
      Options.withDefault(60),
      Options.withDescription("How many small files to fetch."),
      Options.mapEffect(atLeast(3, "files"))
    ),
    rounds: Options.integer("rounds").pipe(
      Options.withDefault(3),
      Options.withDescription("How many times each file is fetched, before and after the removal."),
      Options.mapEffect(atLeast(2, "rounds"))
    )
  },
  cluster
).pipe(
  Command.withDescription(HelpDoc.blocks([
    HelpDoc.p(
      "Starts three ferry servers (dist/bin/server.js) and HAProxy in front of them with deploy/haproxy-tcp.cfg " +
        "and deploy/haproxy-http.cfg, fetches files through HAProxy, and checks from each server's statistics and " +
        "cache that each file is loaded by one server, and that taking one out moves only its files. " +
        "Exits 0 when every check passes, 1 otherwise."
    ),
    HelpDoc.p("Example: npm run cluster -- --mode tcp --files 60 --rounds 3")
  ]))
)

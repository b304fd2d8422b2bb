/**
 * `npm run cluster` end to end: the built script starts three built servers and a real HAProxy with
 * deploy/'s configurations, and passes: each file loaded by one node, a removal moving only that
 * node's files. Skipped without haproxy (.ci/run installs it); the HTTP mode, until the server
 * has `--http`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { bounded, SERVER_BIN } from "./harness.js"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const CLUSTER_BIN = path.join(ROOT, "dist", "bench", "cluster.js")

const noHaproxy = spawnSync("haproxy", ["-v"]).error !== undefined
  ? "haproxy not found: `apt-get install -y haproxy` provides it (.ci/run installs it)"
  : undefined
const noHttpDoor = existsSync(SERVER_BIN) &&
    !spawnSync(process.execPath, [SERVER_BIN, "--help"], { encoding: "utf8" }).stdout.includes("--http")
  ? "the built server has no --http yet"
  : undefined

const runCluster = (mode: "tcp" | "http") =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    if (!existsSync(CLUSTER_BIN)) {
      return resume(Effect.dieMessage("dist/bench/cluster.js not found: run `npm run build` before the tests"))
    }
    const child = spawn(process.execPath, [CLUSTER_BIN, "--mode", mode], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => stdout += text)
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    // SIGINT: the script's own Ctrl-C path, which stops its servers and HAProxy.
    return Effect.sync(() => child.kill("SIGINT"))
  }).pipe(bounded("60 seconds", `npm run cluster -- --mode ${mode}`))

const passes = (mode: "tcp" | "http") =>
  Effect.gen(function*() {
    const { code, stderr, stdout } = yield* runCluster(mode)
    const report = `${stdout}\n${stderr}`
    expect(code, report).toBe(0)
    expect(stdout, report).toContain(`${mode.toUpperCase()} mode (deploy/haproxy-${mode}.cfg): 60 files`)
    expect(stdout, report).toMatch(/\[ok\] files cached by exactly one node: 60 of 60/)
    expect(stdout, report).toMatch(/\[ok\] the survivors' files kept their owner/)
    expect(stdout, report).not.toContain("[FAIL]")
    expect(stdout.trim().split("\n").at(-1)).toBe("PASS")
  })

describe.skipIf(noHaproxy !== undefined)("three servers behind HAProxy (npm run cluster)", () => {
  it.live("TCP mode: each file loaded by one node, and a removal moves only that node's files", () => passes("tcp"))

  it.live.skipIf(noHttpDoor !== undefined)(
    "HTTP mode: the same, each request balanced on its own",
    () => passes("http")
  )
})

if (noHaproxy !== undefined) {
  describe("three servers behind HAProxy (npm run cluster)", () => {
    it.skip(`skipped: ${noHaproxy}`, () => {})
  })
} else if (noHttpDoor !== undefined) {
  describe("three servers behind HAProxy (npm run cluster)", () => {
    it.skip(`HTTP mode skipped: ${noHttpDoor}`, () => {})
  })
}

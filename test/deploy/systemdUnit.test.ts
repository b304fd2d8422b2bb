/**
 * deploy/ferry.service, checked as systemd reads it: `systemd-analyze verify` finds nothing wrong,
 * `systemd-analyze security` rates its sandbox well, and every option its ExecStart gives the server
 * is one the server takes. (Running it needs systemd as PID 1, which a test machine may not have.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { ROOT, runServer } from "../e2e/harness.js"

const UNIT = path.join(ROOT, "deploy", "ferry.service")
const MISSING = "systemd-analyze not found: `apt-get install -y systemd` provides it (.ci/run installs it)"

const analyze = (...args: ReadonlyArray<string>) =>
  Effect.sync(() => {
    const ran = spawnSync("systemd-analyze", args, { encoding: "utf8", timeout: 30_000 })
    if (ran.error !== undefined) throw new Error(MISSING, { cause: ran.error })
    return { code: ran.status, stdout: ran.stdout, stderr: ran.stderr }
  })

/** ExecStart's command line, its continuation lines joined. */
const execStart = (unit: string): Array<string> => {
  const line = unit.replace(/\\\n\s*/g, " ").split("\n").find((line) => line.startsWith("ExecStart="))
  if (line === undefined) throw new Error("no ExecStart= in deploy/ferry.service")
  return line.slice("ExecStart=".length).trim().split(/\s+/)
}

describe("deploy/ferry.service", () => {
  it.effect("systemd-analyze verify finds nothing to say", () =>
    Effect.gen(function*() {
      const ran = yield* analyze("verify", UNIT)
      expect({ code: ran.code, output: ran.stdout + ran.stderr }).toEqual({ code: 0, output: "" })
    }))

  it.effect("systemd-analyze security rates its exposure 2.0 or lower (1.0 is the best, 10 none)", () =>
    Effect.gen(function*() {
      const ran = yield* analyze("security", "--offline=true", "--no-pager", UNIT)
      const exposure = /Overall exposure level for ferry\.service: ([\d.]+)/.exec(ran.stdout)
      expect(exposure, ran.stdout + ran.stderr).not.toBeNull()
      expect(Number(exposure![1])).toBeLessThanOrEqual(2)
    }))

  it.effect("its ExecStart runs the built server with options the server takes", () =>
    Effect.gen(function*() {
      const [node, script, ...args] = execStart(readFileSync(UNIT, "utf8"))
      expect(node).toBe("/usr/bin/node")
      expect(script).toBe("/opt/ferry/dist/bin/server.js")
      const help = (yield* runServer(["--help"])).stdout
      const options = args.filter((arg) => arg.startsWith("--"))
      expect(options.length).toBeGreaterThan(3)
      for (const option of options) expect(help, option).toContain(option)
    }))
})

/**
 * What the binaries say about their command line, as a new user meets it: help that reads as plain
 * text in a pipe or under NO_COLOR, only our own descriptions, and one line for a bad argument.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn, spawnSync } from "node:child_process"
import { bounded, CLIENT_BIN, expectOneLine, runBinary, SERVER_BIN } from "./harness.js"

const ESC = "\x1b"

const BINS = [
  { program: "ferry-client", bin: CLIENT_BIN, description: "The server's TCP port." },
  {
    program: "ferry-server",
    bin: SERVER_BIN,
    description: "The directory whose files are served, or s3://BUCKET/PREFIX for the objects under PREFIX."
  }
] as const

// `script` (util-linux) runs a command on a pseudo-terminal: the one way to give the binary a terminal here.
const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0

/** `node BIN ARGS` on a pseudo-terminal, to completion: what it wrote there (stdout and stderr together). */
const runOnTerminal = (bin: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
  Effect.async<{ readonly code: number | null; readonly output: string }>((resume) => {
    const command = [process.execPath, bin, ...args].map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(" ")
    const environment = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith("FERRY_") && key !== "NO_COLOR")
    )
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      env: { ...environment, ...env },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => output += text)
    child.on("close", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(bounded("30 seconds", `script ${bin} ${args.join(" ")}`))

describe.each(BINS)("$program --help", ({ bin, description }) => {
  it.live("piped, is plain text", () =>
    Effect.gen(function*() {
      const ran = yield* runBinary(bin, ["--help"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stdout).toContain("USAGE")
      expect(ran.stdout).not.toContain(ESC)
    }))

  it.live("piped with NO_COLOR set, is plain text", () =>
    Effect.gen(function*() {
      const ran = yield* runBinary(bin, ["--help"], { env: { NO_COLOR: "1" } })
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stdout).toContain("USAGE")
      expect(ran.stdout).not.toContain(ESC)
    }))

  it.live.skipIf(!hasScript)("on a terminal, is styled unless NO_COLOR is set", () =>
    Effect.gen(function*() {
      const styled = yield* runOnTerminal(bin, ["--help"], {})
      expect(styled.code, styled.output).toBe(0)
      expect(styled.output).toContain(ESC)
      const plain = yield* runOnTerminal(bin, ["--help"], { NO_COLOR: "true" })
      expect(plain.code, plain.output).toBe(0)
      expect(plain.output).toContain("USAGE")
      expect(plain.output).not.toContain(ESC)
    }))

  it.live("describes each argument in our words only", () =>
    Effect.gen(function*() {
      const ran = yield* runBinary(bin, ["--help"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stdout).toContain(description)
      expect(ran.stdout).not.toContain("A user-defined piece of text")
      expect(ran.stdout).not.toContain("An integer.")
    }))
})

describe("argument errors", () => {
  it.live.each([
    { program: "ferry-client", bin: CLIENT_BIN, args: ["127.0.0.1"], missing: "<port>" },
    { program: "ferry-client", bin: CLIENT_BIN, args: [], missing: "<host>" },
    { program: "ferry-server", bin: SERVER_BIN, args: [], missing: "<host>" },
    { program: "ferry-server", bin: SERVER_BIN, args: ["127.0.0.1", "0"], missing: "<dir>" }
  ].map((error) => ({ ...error, what: error.args.join(" ") || "(no arguments)" })))(
    "$program $what: exit 2, one line naming the program, the argument and --help",
    ({ args, bin, missing, program }) =>
      Effect.gen(function*() {
        const ran = yield* runBinary(bin, args)
        expect(ran.code, ran.stderr).toBe(2)
        expectOneLine(ran.stderr)
        expect(ran.stderr.trimEnd()).toBe(`${program}: missing argument ${missing}: see ${program} --help`)
        expect(ran.stdout).toBe("")
      })
  )

  it.live.each([
    { program: "ferry-client", bin: CLIENT_BIN, args: ["127.0.0.1", "9098", "a.txt", "/tmp", "extra"] },
    { program: "ferry-client", bin: CLIENT_BIN, args: ["127.0.0.1", "http", "a.txt", "/tmp"] },
    { program: "ferry-client", bin: CLIENT_BIN, args: ["127.0.0.1", "9098", "a.txt", "--qiet", "/tmp"] },
    { program: "ferry-server", bin: SERVER_BIN, args: ["127.0.0.1", "0", "/tmp", "--cache-policy", "none"] }
  ].map((error) => ({ ...error, what: error.args.join(" ") })))(
    "$program $what: exit 2, one line ending with the hint",
    ({ args, bin, program }) =>
      Effect.gen(function*() {
        const ran = yield* runBinary(bin, args)
        expect(ran.code, ran.stderr).toBe(2)
        expectOneLine(ran.stderr)
        expect(ran.stderr).toMatch(new RegExp(`^${program}: \\S.*: see ${program} --help\\n$`))
        expect(ran.stderr).not.toContain(ESC)
      })
  )
})

/**
 * The live tokens file on real temporary files: refused when group or others may read or write it,
 * a malformed line named, and SIGHUP reloading it (a bad file on reload keeps the tokens in force).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as NodeTokens from "../../src/layers/NodeTokens.js"
import { Tokens } from "../../src/services/Tokens.js"
import * as TempDirectory from "../support/TempDirectory.js"

const line = (label: string, hex: string) => `${label}:${hex.repeat(32)}:*::\n`

/** Writes the file whole, mode and all, in one rename: a reload never sees it half made. */
const writeTokens = (file: string, text: string, mode = 0o600) =>
  Effect.promise(async () => {
    await fsp.writeFile(`${file}.new`, text)
    await fsp.chmod(`${file}.new`, mode)
    await fsp.rename(`${file}.new`, file)
  })

const labels = Effect.flatMap(Tokens, (tokens) => tokens.current).pipe(
  Effect.map(Option.match({ onNone: () => undefined, onSome: (table) => table.grants.map((grant) => grant.label) }))
)

describe("NodeTokens", () => {
  it.scoped("reads a file only its owner may read and write, whatever the owner's other bits", () =>
    Effect.gen(function*() {
      const file = path.join(yield* TempDirectory.make(), "tokens")
      for (const mode of [0o600, 0o400, 0o700, 0o611]) {
        yield* writeTokens(file, `# tokens\n${line("a", "ab")}${line("b", "cd")}`, mode)
        const table = yield* NodeTokens.load(file)
        expect(table.grants.map((grant) => grant.label), mode.toString(8)).toEqual(["a", "b"])
        expect(table.source).toBe(file)
      }
    }))

  it.scoped.each([0o644, 0o640, 0o604, 0o620, 0o602, 0o666])(
    "refuses a file of mode %o",
    (mode) =>
      Effect.gen(function*() {
        const file = path.join(yield* TempDirectory.make(), "tokens")
        yield* writeTokens(file, line("a", "ab"), mode)
        const error = yield* Effect.flip(NodeTokens.load(file))
        expect(error.reason).toBe("Unsafe")
        expect(error.message).toBe(
          `the tokens file ${file} is readable or writable by group or others (mode 0${mode.toString(8)}): ` +
            `chmod 600 ${file}`
        )
      })
  )

  it.scoped("names a malformed line, and tells a missing file from one that is not a file", () =>
    Effect.gen(function*() {
      const dir = yield* TempDirectory.make()
      const file = path.join(dir, "tokens")
      yield* writeTokens(file, `${line("a", "ab")}\n# fine so far\nb:cd:*::\n`)
      const malformed = yield* Effect.flip(NodeTokens.load(file))
      expect(malformed).toMatchObject({ reason: "Malformed", line: 4 })
      expect(malformed.message).toMatch(new RegExp(`^the tokens file .*tokens, line 4: the hash is not 64 hex digits`))
      expect(yield* Effect.flip(NodeTokens.load(path.join(dir, "none")))).toMatchObject({ reason: "Missing" })
      expect(yield* Effect.flip(NodeTokens.load(dir))).toMatchObject({ reason: "Unreadable", detail: "not a file" })
    }))

  it.scoped("without a file, the server is open to anyone", () =>
    Effect.gen(function*() {
      expect(yield* labels.pipe(Effect.provide(NodeTokens.layer(Option.none())))).toBeUndefined()
    }))

  it.live("SIGHUP reloads the file; a bad one keeps the tokens in force; the handler goes with the layer", () => {
    const logged: Array<string> = []
    const before = process.listenerCount("SIGHUP")
    const logger = Logger.make(({ message }) => void logged.push(String(message)))
    /** Waits until the log holds `count` lines starting with `start`. */
    const loggedTimes = (start: string, count: number) =>
      Effect.gen(function*() {
        for (let tries = 0; tries < 400; tries++) {
          if (logged.filter((line) => line.startsWith(start)).length >= count) return
          yield* Effect.sleep("5 millis")
        }
        expect(logged, `${count} lines starting with ${start}`).toEqual([])
      })
    return Effect.scoped(Effect.gen(function*() {
      const file = path.join(yield* TempDirectory.make(), "tokens")
      yield* writeTokens(file, line("a", "ab"))
      const context = yield* Layer.build(NodeTokens.layer(Option.some(file)))
      const current = labels.pipe(Effect.provide(context))
      expect(process.listenerCount("SIGHUP")).toBe(before + 1)
      expect(yield* current).toEqual(["a"])

      yield* writeTokens(file, line("a", "ab") + line("b", "cd"))
      process.emit("SIGHUP", "SIGHUP")
      yield* loggedTimes("tokens reloaded: 2 from", 1)
      expect(yield* current).toEqual(["a", "b"])
      // Made unusable: malformed, then shared; either way what was in force stays.
      yield* writeTokens(file, "not a token\n")
      process.emit("SIGHUP", "SIGHUP")
      yield* loggedTimes("tokens not reloaded, the 2 in force kept: the tokens file", 1)
      yield* writeTokens(file, line("c", "ef"), 0o644)
      process.emit("SIGHUP", "SIGHUP")
      yield* loggedTimes("tokens not reloaded, the 2 in force kept: the tokens file", 2)
      expect(yield* current).toEqual(["a", "b"])
      expect(logged.filter((line) => line.startsWith("tokens not reloaded"))).toEqual([
        expect.stringMatching(/line 1: expected label:sha256:prefixes:expires:admin, found 1 fields$/),
        expect.stringMatching(/is readable or writable by group or others \(mode 0644\)/)
      ])
      yield* writeTokens(file, line("c", "ef"))
      process.emit("SIGHUP", "SIGHUP")
      yield* loggedTimes("tokens reloaded: 1 from", 1)
      expect(yield* current).toEqual(["c"])
    })).pipe(
      Effect.zipRight(Effect.sync(() => expect(process.listenerCount("SIGHUP")).toBe(before))),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
  })
})

/**
 * Access tokens with the built binaries: `token create`, a server started with --tokens, clients
 * with and without --token, refusals that say nothing of what exists, a log that never holds a token,
 * and SIGHUP picking up a new token while a download goes on.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { createHash } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import { gateProxy } from "../support/GateProxy.js"
import {
  bounded,
  expectOneLine,
  HOST,
  lines,
  MiB,
  runBinary,
  runClient,
  runServer,
  type Server,
  SERVER_BIN,
  sha256File,
  spawnClient,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import { getRequest, rawConnect, readFetched } from "./rawProtocol.js"

const TOKEN = /^fy_[A-Za-z0-9_-]{43}$/

const sha256Hex = (text: string) => createHash("sha256").update(text).digest("hex")

/** `ferry-server token create ARGS --file FILE`: the token it printed, and the run. */
const createToken = (file: string, args: ReadonlyArray<string>) =>
  Effect.map(runServer(["token", "create", ...args, "--file", file]), (ran) => ({ ...ran, token: ran.stdout.trim() }))

const made = (file: string, args: ReadonlyArray<string>) =>
  Effect.map(createToken(file, args), (ran) => {
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.token).toMatch(TOKEN)
    return ran.token
  })

const FILES = {
  "a.txt": 100,
  "docs/readme.txt": 200,
  "docs/public/p.txt": 300,
  "docs/private/q.txt": 400,
  "secret/s.txt": 500
} as const

class Served extends Context.Tag("e2e/TokensServed")<Served, {
  readonly dir: string
  readonly tokensFile: string
  readonly server: Server
  readonly reader: string
  readonly admin: string
  readonly expired: string
  readonly sha256: Readonly<Record<string, string>>
}>() {}

const served = Layer.scoped(
  Served,
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-tokens-")
    const sha256: Record<string, string> = {}
    for (const [name, size] of Object.entries(FILES)) {
      sha256[name] = yield* writeRandomFile(path.join(dir, "files", name), size)
    }
    const tokensFile = path.join(dir, "tokens")
    const reader = yield* made(tokensFile, ["--label", "reader", "--prefix", "docs/public", "--prefix", "a.txt"])
    const admin = yield* made(tokensFile, ["--label", "ops", "--prefix", "*", "--admin", "--expires", "30d"])
    // Written by hand, as an operator may: a token that expired long ago.
    const expired = "fy_expired-long-ago"
    yield* Effect.promise(() => fsp.appendFile(tokensFile, `old:${sha256Hex(expired)}:*:2020-01-01:\n`))
    const server = yield* startServer(path.join(dir, "files"), ["--tokens", tokensFile, "--log-level", "debug"])
    return { dir, tokensFile, server, reader, admin, expired, sha256 }
  })
)

const NOT_AUTHORIZED = (name: string, port: number) =>
  `ferry-client: not authorized for ${name} on ${HOST}:${port}: check --token\n`

layer(served, { excludeTestServices: true })("a server with --tokens", (it) => {
  it.scoped("says so when it starts, and `token create` wrote the file with mode 0600, hashes only", () =>
    Effect.gen(function*() {
      const { admin, reader, server, tokensFile } = yield* Served
      expect(lines(server.stderr())[0]).toMatch(
        new RegExp(`listening on 127\\.0\\.0\\.1:\\d+ access="3 tokens from ${tokensFile}"`)
      )
      expect((yield* Effect.promise(() => fsp.stat(tokensFile))).mode & 0o777).toBe(0o600)
      const text = yield* Effect.promise(() => fsp.readFile(tokensFile, "utf8"))
      const tokenLines = lines(text).filter((line) => !line.startsWith("#"))
      expect(tokenLines).toEqual([
        `reader:${sha256Hex(reader)}:docs/public,a.txt::`,
        expect.stringMatching(
          new RegExp(`^ops:${sha256Hex(admin)}:\\*:\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ:admin$`)
        ),
        expect.stringMatching(/^old:/)
      ])
      expect(text).not.toContain(reader)
      expect(text).not.toContain(admin)
    }))

  it.scoped.each([
    { what: "no token", args: ["a.txt", "."], token: undefined, name: "a.txt" },
    { what: "a wrong token", args: ["a.txt", "."], token: "wrong" as const, name: "a.txt" },
    { what: "an expired token", args: ["a.txt", "."], token: "expired" as const, name: "a.txt" },
    {
      what: "a file outside the prefixes",
      args: ["docs/private/q.txt", "."],
      token: "reader" as const,
      name: "docs/private/q.txt"
    },
    { what: "a directory outside the prefixes", args: ["secret/", "."], token: "reader" as const, name: "secret/" },
    { what: "ls outside the prefixes", args: ["ls", "docs/private"], token: "reader" as const, name: "docs/private" },
    {
      what: "stat outside the prefixes",
      args: ["stat", "secret/s.txt"],
      token: "reader" as const,
      name: "secret/s.txt"
    },
    { what: "stats without admin", args: ["stats"], token: "reader" as const, name: "stats" },
    { what: "list without admin", args: ["list"], token: "reader" as const, name: "list" }
  ])("$what: exit 13, one line, nothing saved, not retried", ({ args, name, token }) =>
    Effect.gen(function*() {
      const { expired, reader, server } = yield* Served
      const dest = yield* tempDir()
      const secret = token === undefined ? [] : ["--token", { wrong: "fy_wrong", expired, reader }[token]]
      const ran = yield* runClient([HOST, server.port, ...args.map((arg) => arg === "." ? dest : arg), ...secret])
      expect(ran.code, ran.stderr).toBe(13)
      if (name.endsWith("/")) {
        // A directory is fetched as several names are: its line, then the summary.
        expect(lines(ran.stderr)[0]).toBe(`ferry-client: ${name}: ${NOT_AUTHORIZED(name, server.port).slice(14, -1)}`)
      } else {
        expectOneLine(ran.stderr)
        expect(ran.stderr).toBe(NOT_AUTHORIZED(name, server.port))
      }
      expect(ran.stderr).not.toContain("trying again")
      expect(yield* Effect.promise(() => fsp.readdir(dest))).toEqual([])
    }))

  it.scoped("the right token gets files under its prefixes, an ls of only those, and their stat", () =>
    Effect.gen(function*() {
      const { admin, reader, server, sha256 } = yield* Served
      const dest = yield* tempDir()
      const got = yield* runClient([HOST, server.port, "docs/public/p.txt", "a.txt", dest, "-q", "--token", reader])
      expect(got.code, got.stderr).toBe(0)
      expect(yield* sha256File(path.join(dest, "p.txt"))).toBe(sha256["docs/public/p.txt"])
      expect(yield* sha256File(path.join(dest, "a.txt"))).toBe(sha256["a.txt"])

      // From the environment, as a token is best given.
      const listed = yield* runClient([HOST, server.port, "ls", "-r", "--json"], { env: { FERRY_TOKEN: reader } })
      expect(listed.code, listed.stderr).toBe(0)
      const entries = (JSON.parse(listed.stdout) as { entries: Array<{ path: string }> }).entries
      expect(entries.map((entry) => entry.path)).toEqual(["a.txt", "docs", "docs/public", "docs/public/p.txt"])

      const stat = yield* runClient([HOST, server.port, "stat", "docs/public/p.txt", "--json", "--token", reader])
      expect(stat.code, stat.stderr).toBe(0)
      expect(JSON.parse(stat.stdout)).toMatchObject({ size: FILES["docs/public/p.txt"] })

      const stats = yield* runClient([HOST, server.port, "stats", "--json", "--token", admin])
      expect(stats.code, stats.stderr).toBe(0)
      expect(JSON.parse(stats.stdout)).toHaveProperty("requests")
      const all = yield* runClient([HOST, server.port, "ls", "-r", "--token", admin])
      expect(lines(all.stdout)).toHaveLength(Object.keys(FILES).length + 4)
    }))

  it.scoped("a missing file and a forbidden one are answered alike, with a token and without", () =>
    Effect.gen(function*() {
      const { reader, server } = yield* Served
      const answers = (token: string | undefined) =>
        Effect.scoped(Effect.gen(function*() {
          const connection = yield* rawConnect(server.port)
          if (token !== undefined) yield* connection.write(Codec.encodeRequest(Codec.Request.Auth({ token })))
          yield* connection.write(getRequest("secret/s.txt"))
          yield* connection.write(getRequest("secret/missing.txt"))
          if (token !== undefined) {
            expect((yield* Codec.readResponse(connection.reader, Codec.Kind.Auth))._tag).toBe("Authenticated")
          }
          return [yield* readFetched(connection.reader), yield* readFetched(connection.reader)]
        }))
      for (const token of [undefined, reader]) {
        const [forbidden, missing] = yield* answers(token)
        expect(forbidden).toMatchObject({ _tag: "Failure", status: Codec.Status.Unauthorized })
        expect(missing).toEqual(forbidden)
      }
      const dest = yield* tempDir()
      const client = (name: string) => runClient([HOST, server.port, name, dest, "--token", reader])
      const [forbidden, missing] = [yield* client("secret/s.txt"), yield* client("secret/missing.txt")]
      expect([forbidden.code, missing.code]).toEqual([13, 13])
      expect(missing.stderr.replace("missing.txt", "s.txt")).toBe(forbidden.stderr)
    }))

  it.scoped("no token, right or wrong, is ever written to the server's log; labels are", () =>
    Effect.gen(function*() {
      const { admin, expired, reader, server } = yield* Served
      const dest = yield* tempDir()
      yield* runClient([HOST, server.port, "a.txt", dest, "-q", "--token", reader])
      yield* runClient([HOST, server.port, "a.txt", dest, "-q", "--token", "fy_a-wrong-guess"])
      yield* runClient([HOST, server.port, "stats", "--token", admin])
      yield* runClient([HOST, server.port, "stats", "--token", expired])
      const log = yield* server.waitForStderr((log) =>
        lines(log).filter((line) => line.includes("STATS")).length >= 2 ? log : undefined
      ).pipe(Effect.orDie, bounded("10 seconds", "the STATS lines in the log"))
      for (const secret of [reader, admin, expired, "fy_a-wrong-guess"]) expect(log).not.toContain(secret)
      expect(log).toMatch(/GET a\.txt .*token=reader/)
      expect(log).toMatch(/STATS .*token=ops/)
      expect(log).toMatch(/AUTH status=Unauthorized .*token=old .*detail="token expired"/)
    }))
})

describe("reloading the tokens", () => {
  it.scopedLive("SIGHUP picks up a new token while a download goes on, and the download completes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ferry-e2e-tokens-")
      const sha256 = yield* writeRandomFile(path.join(dir, "files", "big.bin"), 48 * MiB)
      const tokensFile = path.join(dir, "tokens")
      const first = yield* made(tokensFile, ["--label", "first", "--prefix", "*"])
      const server = yield* startServer(path.join(dir, "files"), ["--tokens", tokensFile])
      // The download is held part-way by a proxy: in flight, for as long as the test needs.
      const proxy = yield* gateProxy(server.port, 4 * MiB)
      const dest = yield* tempDir()
      const download = yield* spawnClient([HOST, proxy.port, "big.bin", dest, "--token", first, "--retries", "0"])
      yield* Effect.sync(() => proxy.passed()).pipe(
        Effect.repeat({ until: (passed) => passed >= 4 * MiB, schedule: Schedule.spaced("10 millis") }),
        bounded("30 seconds", "the download to start")
      )

      const later = yield* made(tokensFile, ["--label", "later", "--prefix", "*"])
      const stat = runClient([HOST, server.port, "stat", "big.bin", "--token", later])
      expect((yield* stat).code).toBe(13)
      server.process.kill("SIGHUP")
      yield* stat.pipe(
        Effect.repeat({ until: (ran) => ran.code === 0, schedule: Schedule.spaced("50 millis") }),
        bounded("20 seconds", "the new token to be accepted")
      )
      expect(download.process.exitCode).toBeNull()

      yield* proxy.open
      const exited = yield* download.exited.pipe(bounded("60 seconds", "the download to finish"))
      expect(exited.code, download.stderr()).toBe(0)
      expect(download.stderr()).not.toContain("trying again")
      expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
      const log = server.stderr()
      expect(log).toContain("tokens reloaded: 2 from")
      expect(lines(log).filter((line) => line.includes("GET big.bin"))).toHaveLength(1)
    }))
})

describe("refusing to start", () => {
  it.scopedLive("a tokens file group or others may read, or a malformed one: exit 5, one line naming it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ferry-e2e-tokens-")
      const tokensFile = path.join(dir, "tokens")
      yield* made(tokensFile, ["--label", "a", "--prefix", "*"])
      yield* Effect.promise(() => fsp.chmod(tokensFile, 0o644))
      const shared = yield* runServer([HOST, 0, dir, "--tokens", tokensFile])
      expect(shared.code, shared.stderr).toBe(5)
      expectOneLine(shared.stderr)
      expect(shared.stderr).toBe(
        `ferry-server: the tokens file ${tokensFile} is readable or writable by group or others (mode 0644): ` +
          `chmod 600 ${tokensFile}\n`
      )
      // `token create` will not add to it either.
      const adding = yield* createToken(tokensFile, ["--label", "b", "--prefix", "*"])
      expect([adding.code, adding.stdout]).toEqual([5, ""])

      yield* Effect.promise(() => fsp.chmod(tokensFile, 0o600))
      yield* Effect.promise(() => fsp.appendFile(tokensFile, "b:not-a-hash:*::\n"))
      const lineNumber = lines(yield* Effect.promise(() => fsp.readFile(tokensFile, "utf8"))).length
      const malformed = yield* runBinary(SERVER_BIN, [HOST, 0, dir], { env: { FERRY_TOKENS: tokensFile } })
      expect(malformed.code, malformed.stderr).toBe(5)
      expectOneLine(malformed.stderr)
      expect(malformed.stderr).toContain(`the tokens file ${tokensFile}, line ${lineNumber}: the hash is not 64 hex`)

      const missing = yield* runServer([HOST, 0, dir, "--tokens", path.join(dir, "none")])
      expect([missing.code, missing.stderr]).toEqual([
        5,
        `ferry-server: tokens file not found: ${path.join(dir, "none")}\n`
      ])
    }))

  it.scopedLive("without --tokens the server is open to anyone, and says so", () =>
    Effect.gen(function*() {
      const server = yield* startServer(yield* tempDir())
      expect(lines(server.stderr())[0]).toContain(`access="open to anyone: no --tokens"`)
    }))

  it.scopedLive("`token create` refuses a taken label, a bad prefix or expiry; without --file, FERRY_TOKENS", () =>
    Effect.gen(function*() {
      const tokensFile = path.join(yield* tempDir(), "tokens")
      for (
        const args of [
          ["--label", "a b", "--prefix", "*"],
          ["--label", "a"],
          ["--label", "a", "--prefix", "../up"],
          ["--label", "a", "--prefix", "*", "--prefix", "docs"],
          ["--label", "a", "--prefix", "*", "--expires", "soon"],
          ["--label", "a", "--prefix", "*", "--expires", "2020-01-01"]
        ]
      ) {
        const ran = yield* createToken(tokensFile, args)
        expect(ran.code, `${args.join(" ")}: ${ran.stderr}`).toBe(2)
        expectOneLine(ran.stderr)
      }
      yield* made(tokensFile, ["--label", "a", "--prefix", "docs"])
      const taken = yield* createToken(tokensFile, ["--label", "a", "--prefix", "*"])
      expect(taken.code).toBe(2)
      expect(taken.stderr).toContain("label a is taken")
      const fromEnvironment = yield* runBinary(SERVER_BIN, ["token", "create", "--label", "b", "--prefix", "*"], {
        env: { FERRY_TOKENS: tokensFile }
      })
      expect(fromEnvironment.code, fromEnvironment.stderr).toBe(0)
      const text = yield* Effect.promise(() => fsp.readFile(tokensFile, "utf8"))
      expect(lines(text).filter((line) => /^[ab]:/.test(line)).map((line) => line.split(":")[0])).toEqual(["a", "b"])
    }))
})

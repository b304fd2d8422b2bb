/**
 * The built server's HTTP door through clients no one here wrote, as Debian ships them: curl (whole,
 * range, `-C -` resume, 304, HEAD, HTTPS with --cacert, a Bearer token and 401 without), `wget -c`,
 * and `aria2c -x4 -s4` on a 200 MiB file. Hostile names through curl are in httpHostileNames.test.ts.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Certificates from "../support/certificates.js"
import { curl, headerFields, WRITE_OUT, written } from "../support/curl.js"
import { runTool } from "../support/tools.js"
import {
  bounded,
  MiB,
  runServer,
  type Server,
  sha256File,
  startHttpServer,
  tempDir,
  writeRandomFile
} from "./harness.js"

/** `file` holding only the first `bytes` of `source`, as a download cut off there leaves it. */
const partialCopy = (source: string, file: string, bytes: number) =>
  Effect.promise(async () => {
    await fsp.copyFile(source, file)
    await fsp.truncate(file, bytes)
  })

const FILES = { "small.bin": 100_000, "sub dir/big.bin": 3 * MiB + 17 } as const

class Door extends Context.Tag("e2e/HttpClientsDoor")<Door, {
  readonly dir: string
  readonly url: string
  readonly server: Server
  readonly sha256: Readonly<Record<keyof typeof FILES, string>>
}>() {}

// Both files fit the default cache (64 MiB).
const door = Layer.scoped(
  Door,
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-http-clients-")
    const digests: Partial<Record<keyof typeof FILES, string>> = {}
    for (const [name, size] of Object.entries(FILES)) {
      digests[name as keyof typeof FILES] = yield* writeRandomFile(path.join(dir, name), size)
    }
    const { server, url } = yield* startHttpServer(dir)
    return { dir, url, server, sha256: digests as Record<keyof typeof FILES, string> }
  })
)

layer(door, { excludeTestServices: true })("curl", (it) => {
  it.scoped("downloads a whole file, identical", () =>
    Effect.gen(function*() {
      const { sha256: digests, url } = yield* Door
      const dest = path.join(yield* tempDir(), "small.bin")
      const ran = yield* curl(["-o", dest, "-w", WRITE_OUT, `${url}/small.bin`])
      expect(ran.code, ran.stderr).toBe(0)
      expect(written(ran.stdout)).toEqual({ status: 200, size: FILES["small.bin"] })
      expect(yield* sha256File(dest)).toBe(digests["small.bin"])
    }))

  it.scoped("fetches -r 100-199: those bytes, with 206", () =>
    Effect.gen(function*() {
      const { dir, url } = yield* Door
      const source = yield* Effect.promise(() => fsp.readFile(path.join(dir, "small.bin")))
      const dest = path.join(yield* tempDir(), "range")
      const ran = yield* curl(["-r", "100-199", "-o", dest, "-w", WRITE_OUT, `${url}/small.bin`])
      expect(ran.code, ran.stderr).toBe(0)
      expect(written(ran.stdout)).toEqual({ status: 206, size: 100 })
      const got = yield* Effect.promise(() => fsp.readFile(dest))
      expect(got.equals(source.subarray(100, 200))).toBe(true)
    }))

  it.scoped("resumes a partial file with -C -, identical", () =>
    Effect.gen(function*() {
      const { dir, sha256: digests, url } = yield* Door
      const dest = path.join(yield* tempDir(), "big.bin")
      const kept = MiB + 7
      yield* partialCopy(path.join(dir, "sub dir", "big.bin"), dest, kept)
      const ran = yield* curl(["-C", "-", "-o", dest, "-w", WRITE_OUT, `${url}/sub%20dir/big.bin`])
      expect(ran.code, ran.stderr).toBe(0)
      expect(written(ran.stdout), "only the missing bytes were sent").toEqual({
        status: 206,
        size: FILES["sub dir/big.bin"] - kept
      })
      expect(yield* sha256File(dest)).toBe(digests["sub dir/big.bin"])

      // Resumed again, complete: the door answers 416 for a range from the end, which curl takes as done.
      const done = yield* curl(["-C", "-", "-o", dest, "-w", WRITE_OUT, `${url}/sub%20dir/big.bin`])
      expect(done.code, done.stderr).toBe(0)
      expect(written(done.stdout)).toEqual({ status: 416, size: 0 })
      expect(yield* sha256File(dest)).toBe(digests["sub dir/big.bin"])
    }))

  it.scoped("gets 304 and no body for If-None-Match with the ETag it was given", () =>
    Effect.gen(function*() {
      const { url } = yield* Door
      const scratch = yield* tempDir()
      const dump = path.join(scratch, "headers")
      const first = yield* curl(["-D", dump, "-o", path.join(scratch, "body"), `${url}/small.bin`])
      expect(first.code, first.stderr).toBe(0)
      const etag = headerFields(yield* Effect.promise(() => fsp.readFile(dump, "utf8"))).get("etag")
      expect(etag, "the first response's ETag").toMatch(/^"[^"]+"$/)
      const again = yield* curl([
        "-H",
        `If-None-Match: ${etag}`,
        "-o",
        "/dev/null",
        "-w",
        WRITE_OUT,
        `${url}/small.bin`
      ])
      expect(again.code, again.stderr).toBe(0)
      expect(written(again.stdout)).toEqual({ status: 304, size: 0 })
      const other = yield* curl([
        "-H",
        "If-None-Match: \"not-it\"",
        "-o",
        "/dev/null",
        "-w",
        WRITE_OUT,
        `${url}/small.bin`
      ])
      expect(written(other.stdout), "another ETag gets the file").toEqual({ status: 200, size: FILES["small.bin"] })
    }))

  it.scoped("HEAD (-I): Content-Length, ETag, Accept-Ranges, and no body", () =>
    Effect.gen(function*() {
      const { url } = yield* Door
      const ran = yield* curl(["-I", `${url}/small.bin`])
      expect(ran.code, ran.stderr).toBe(0)
      const dump = ran.stdout.toString()
      expect(dump).toMatch(/^HTTP\/1\.1 200 /)
      const fields = headerFields(dump)
      expect(fields.get("content-length")).toBe(String(FILES["small.bin"]))
      expect(fields.get("etag")).toMatch(/^"[^"]+"$/)
      expect(fields.get("accept-ranges")).toBe("bytes")
      const got = yield* curl(["-D", "-", "-o", "/dev/null", `${url}/small.bin`])
      expect(headerFields(got.stdout.toString()).get("etag"), "the ETag a GET gets").toBe(fields.get("etag"))
    }))
})

describe("curl over HTTPS and with tokens", () => {
  it.scopedLive("HTTPS with --cacert and the native port's certificate; refused without the CA", () =>
    Effect.gen(function*() {
      const certificates = yield* Certificates.make
      const dir = yield* tempDir()
      const small = yield* writeRandomFile(path.join(dir, "small.bin"), 50_000)
      const { url } = yield* startHttpServer(dir, [
        "--tls-cert",
        certificates.server.certFile,
        "--tls-key",
        certificates.server.keyFile
      ], { scheme: "https" })
      const dest = path.join(yield* tempDir(), "small.bin")
      const ran = yield* curl(["--cacert", certificates.ca.certFile, "-o", dest, "-w", WRITE_OUT, `${url}/small.bin`])
      expect(ran.code, ran.stderr).toBe(0)
      expect(written(ran.stdout)).toEqual({ status: 200, size: 50_000 })
      expect(yield* sha256File(dest)).toBe(small)
      // 60: the peer's certificate cannot be authenticated with the known CA certificates.
      const untrusted = yield* curl(["-o", "/dev/null", `${url}/small.bin`])
      expect(untrusted.code, untrusted.stderr).toBe(60)
    }))

  it.scopedLive("a Bearer token from `token create` gets the file; none, or a wrong one, gets 401", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const served = path.join(dir, "files")
      const small = yield* writeRandomFile(path.join(served, "small.bin"), 20_000)
      const tokensFile = path.join(dir, "tokens")
      const created = yield* runServer(["token", "create", "--label", "curl", "--prefix", "*", "--file", tokensFile])
      expect(created.code, created.stderr).toBe(0)
      const token = created.stdout.trim()
      const { url } = yield* startHttpServer(served, ["--tokens", tokensFile])

      const dest = path.join(yield* tempDir(), "small.bin")
      const ran = yield* curl(["-H", `Authorization: Bearer ${token}`, "-o", dest, "-w", WRITE_OUT, `${url}/small.bin`])
      expect(ran.code, ran.stderr).toBe(0)
      expect(written(ran.stdout).status).toBe(200)
      expect(yield* sha256File(dest)).toBe(small)

      for (const header of [[], ["-H", "Authorization: Bearer fy_wrong"]]) {
        const refused = yield* curl([...header, "-D", "-", "-o", "/dev/null", `${url}/small.bin`])
        const dump = refused.stdout.toString()
        expect(dump, header.join(" ") || "no token").toMatch(/^HTTP\/1\.1 401 /)
        expect(headerFields(dump).get("www-authenticate")).toMatch(/^Bearer realm="ferry"/)
      }
    }))
})

describe("wget", () => {
  it.scopedLive("-c resumes a partial download, identical", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const source = path.join(dir, "big.bin")
      const digest = yield* writeRandomFile(source, 3 * MiB + 5)
      const { url } = yield* startHttpServer(dir)
      const dest = yield* tempDir()
      yield* partialCopy(source, path.join(dest, "big.bin"), 2 * MiB - 3)
      const ran = yield* runTool(
        "wget",
        ["--no-config", "--no-proxy", "--tries=1", "--server-response", "-nv", "-c", `${url}/big.bin`],
        { cwd: dest }
      )
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stderr, "wget asked for the rest only").toMatch(/HTTP\/1\.1 206 Partial Content/)
      expect(ran.stderr.toLowerCase()).toContain(`content-range: bytes ${2 * MiB - 3}-${3 * MiB + 4}/${3 * MiB + 5}`)
      expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(digest)
    }))
})

describe("aria2c", () => {
  it.scopedLive("-x4 -s4 downloads a 200 MiB file, read in slices (larger than the cache), in segments, identical", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const size = 200 * MiB
      const digest = yield* writeRandomFile(path.join(dir, "big.bin"), size)
      // The default cache (64 MiB) cannot hold it: with slices on, every segment is read through it in slices.
      const { server, url } = yield* startHttpServer(dir, ["--slice-size", "4MiB"])
      const dest = yield* tempDir()
      const ran = yield* runTool("aria2c", [
        "--no-conf",
        "--no-proxy=127.0.0.1",
        "-x4",
        "-s4",
        "--max-tries=1",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--download-result=hide",
        "-d",
        dest,
        "-o",
        "big.bin",
        `${url}/big.bin`
      ], { bound: "120 seconds" })
      expect(ran.code, `${ran.stdout.toString()}${ran.stderr}`).toBe(0)
      expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(digest)
      // Each connection's request is logged once it is answered (or cut short, as aria2c closes the first one
      // when it reaches the second segment): four, three of them ranges from different offsets, all sliced.
      const requests = yield* server.waitForStderr((log) => {
        const found = log.match(/GET \/big\.bin .*door=http.*/g) ?? []
        return found.length >= 4 ? found : undefined
      }).pipe(Effect.orDie, bounded("10 seconds", "waiting for four requests in the server's log"))
      const log = requests.join("\n")
      const offsets = requests.flatMap((line) => /status=206 .*from=(\d+)/.exec(line)?.[1] ?? [])
      expect(new Set(offsets).size, log).toBeGreaterThanOrEqual(3)
      for (const line of requests) expect(line, "read in slices").toContain("cache=slice")
    }))
})

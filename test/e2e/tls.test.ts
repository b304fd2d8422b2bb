/**
 * TLS through the built client and server, as a user runs them, with certificates made by openssl:
 * downloads over TLS, what openssl sees, each certificate problem and port mix-up as one line and
 * exit code 14, --insecure, and client certificates.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFile } from "node:child_process"
import * as path from "node:path"
import * as Certificates from "../support/certificates.js"
import {
  bounded,
  expectOneLine,
  HOST,
  MiB,
  runClient,
  runServer,
  type Server,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"

const TLS_FAILED = 14
/** A failure that should come at once: well within this, whatever the machine is doing. */
const PROMPTLY = "10 seconds"

// The cache holds 1 MiB: the small file is kept in it, the large one streamed from disk.
const FILES = { "small.bin": 768 * 1024, "large.bin": 4 * MiB } as const

class World extends Context.Tag("e2e/TlsWorld")<World, {
  readonly certificates: Certificates.Certificates
  readonly sha256: Record<string, string>
  /** TLS with the server certificate; with a client CA; with the other name's and the expired one; plain. */
  readonly tls: Server
  readonly mutual: Server
  readonly otherName: Server
  readonly expired: Server
  readonly plain: Server
}>() {}

const world = Layer.scoped(
  World,
  Effect.gen(function*() {
    const certificates = yield* Certificates.make
    const dir = yield* tempDir("ferry-e2e-tls-")
    const sha256: Record<string, string> = {}
    for (const [name, size] of Object.entries(FILES)) sha256[name] = yield* writeRandomFile(path.join(dir, name), size)
    const withPair = (pair: Certificates.Pair, ...more: ReadonlyArray<string>) =>
      startServer(dir, ["--tls-cert", pair.certFile, "--tls-key", pair.keyFile, "--cache-size", "1MiB", ...more])
    const [tls, mutual, otherName, expired, plain] = yield* Effect.all([
      withPair(certificates.server),
      withPair(certificates.server, "--client-ca", certificates.ca.certFile),
      withPair(certificates.otherName),
      withPair(certificates.expired),
      startServer(dir)
    ], { concurrency: "unbounded" })
    return { certificates, sha256, tls, mutual, otherName, expired, plain }
  })
)

/** The client for `name` from the server on `port`, into a fresh directory. */
const download = (port: number, name: string, ...options: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const dest = yield* tempDir("ferry-e2e-tls-dest-")
    const ran = yield* runClient([HOST, port, name, dest, "-q", "--retries", "0", ...options])
    return { ran, file: path.join(dest, name) }
  })

/** Fails unless the client exits 14 with exactly one line on stderr, which it returns. */
const tlsFailure = <R>(run: Effect.Effect<{ readonly ran: { code: number | null; stderr: string } }, never, R>) =>
  Effect.gen(function*() {
    const { ran } = yield* run.pipe(bounded(PROMPTLY, "a TLS failure"))
    expect(ran.code, ran.stderr).toBe(TLS_FAILED)
    expectOneLine(ran.stderr)
    return ran.stderr.trim()
  })

const openssl = (args: ReadonlyArray<string>) =>
  Effect.async<string>((resume) => {
    const child = execFile("openssl", args, { timeout: 10_000 }, (_error, stdout, stderr) =>
      resume(Effect.succeed(`${stdout}\n${stderr}`)))
    child.stdin?.end()
    return Effect.sync(() =>
      child.kill("SIGKILL")
    )
  })

layer(world, { excludeTestServices: true })("TLS", (it) => {
  it.scoped.each(Object.keys(FILES))("%s downloads byte-identical over TLS", (name) =>
    Effect.gen(function*() {
      const { certificates, sha256, tls } = yield* World
      for (const round of [1, 2]) {
        const { file, ran } = yield* download(tls.port, name, "--tls", "--ca", certificates.ca.certFile)
        expect(ran.code, `round ${round}: ${ran.stderr}`).toBe(0)
        expect(ran.stderr).toBe("")
        expect(yield* sha256File(file)).toBe(sha256[name])
      }
      // From the cache the second time, or streamed from disk both times.
      const log = new RegExp(`GET ${name.replace(".", "\\.")} .*cache=${name === "small.bin" ? "hit" : "bypass"}`)
      yield* tls.waitForStderr((stderr) => log.exec(stderr) ?? undefined).pipe(bounded(PROMPTLY, "the log line"))
    }))

  it.scoped("openssl s_client is answered with TLS 1.3, the certificate checked", () =>
    Effect.gen(function*() {
      const { certificates, tls } = yield* World
      const output = yield* openssl([
        "s_client",
        "-connect",
        `${HOST}:${tls.port}`,
        "-CAfile",
        certificates.ca.certFile,
        "-verify_return_error"
      ])
      expect(output).toMatch(/New, TLSv1\.3, Cipher is /)
      expect(output).toContain("Verify return code: 0 (ok)")
    }))

  it.scoped("another CA, another host name, an expired certificate: exit 14, each its own line", () =>
    Effect.gen(function*() {
      const { certificates, expired, otherName, tls } = yield* World
      const ca = certificates.ca.certFile
      const untrusted = yield* tlsFailure(
        download(tls.port, "small.bin", "--tls", "--ca", certificates.otherCa.certFile)
      )
      const notOurs = yield* tlsFailure(download(otherName.port, "small.bin", "--tls", "--ca", ca))
      const stale = yield* tlsFailure(download(expired.port, "small.bin", "--tls", "--ca", ca))
      expect(untrusted).toMatch(/is not signed by a CA this client trusts .*--ca FILE/)
      expect(notOurs).toMatch(/is not issued for "127\.0\.0\.1"/)
      expect(stale).toMatch(/has expired/)
      // Node's own CAs did not sign the test CA either.
      expect(yield* tlsFailure(download(tls.port, "small.bin", "--tls"))).toMatch(/not signed by a CA/)
    }))

  it.scoped("--insecure takes any certificate, after a warning", () =>
    Effect.gen(function*() {
      const { expired, sha256 } = yield* World
      const { file, ran } = yield* download(expired.port, "small.bin", "--tls", "--insecure")
      expect(ran.code, ran.stderr).toBe(0)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toMatch(/^ferry-client: warning: --insecure: the server's certificate is not checked/)
      expect(yield* sha256File(file)).toBe(sha256["small.bin"])
    }))

  it.scoped("client certificates: none is refused, another CA's is refused, the client CA's is served", () =>
    Effect.gen(function*() {
      const { certificates, mutual, sha256 } = yield* World
      const ca = ["--tls", "--ca", certificates.ca.certFile]
      const { client, otherClient } = certificates
      const none = yield* tlsFailure(download(mutual.port, "small.bin", ...ca))
      const other = yield* tlsFailure(
        download(mutual.port, "small.bin", ...ca, "--cert", otherClient.certFile, "--key", otherClient.keyFile)
      )
      expect(none).toMatch(/requires a client certificate: give one with --cert FILE --key FILE$/)
      expect(other).toMatch(/did not accept this client's certificate/)
      const { file, ran } = yield* download(
        mutual.port,
        "small.bin",
        ...ca,
        "--cert",
        client.certFile,
        "--key",
        client.keyFile
      )
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* sha256File(file)).toBe(sha256["small.bin"])
      yield* mutual.waitForStderr((stderr) => /a client without a certificate was refused/.exec(stderr) ?? undefined)
        .pipe(bounded(PROMPTLY, "the refusal's log line"))
    }))

  it.scoped("a plain client on a TLS port, and a TLS client on a plain port, fail at once with exit 14", () =>
    Effect.gen(function*() {
      const { certificates, plain, tls } = yield* World
      const plainOnTls = yield* tlsFailure(download(tls.port, "small.bin"))
      const tlsOnPlain = yield* tlsFailure(download(plain.port, "small.bin", "--tls", "--ca", certificates.ca.certFile))
      expect(plainOnTls).toMatch(/speaks TLS only: connect with --tls/)
      expect(tlsOnPlain).toMatch(/does not speak TLS .*connect without --tls/)
      yield* tls.waitForStderr((stderr) => /a client not speaking TLS was refused/.exec(stderr) ?? undefined)
        .pipe(bounded(PROMPTLY, "the refusal's log line"))
      yield* plain.waitForStderr((stderr) => /not a ferry message but a TLS handshake/.exec(stderr) ?? undefined)
        .pipe(bounded(PROMPTLY, "the bad request's log line"))
    }))

  it.scoped("a certificate without its key, or a key that does not match, is an invalid argument", () =>
    Effect.gen(function*() {
      const { certificates } = yield* World
      const dir = yield* tempDir()
      const { server } = certificates
      const cases = [
        ["--tls-cert", server.certFile],
        ["--client-ca", certificates.ca.certFile],
        ["--tls-cert", server.certFile, "--tls-key", certificates.client.keyFile],
        ["--tls-cert", path.join(dir, "missing.pem"), "--tls-key", server.keyFile]
      ]
      const messages = []
      for (const args of cases) {
        const ran = yield* runServer([HOST, 0, dir, ...args])
        expect(ran.code, ran.stderr).toBe(2)
        expectOneLine(ran.stderr)
        messages.push(ran.stderr.trim())
      }
      expect(messages[0]).toMatch(/--tls-cert and --tls-key go together/)
      expect(messages[1]).toMatch(/--client-ca needs --tls-cert and --tls-key/)
      expect(messages[2]).toMatch(/key values mismatch/)
      expect(messages[3]).toMatch(/--tls-cert: cannot read .*missing\.pem \(NotFound\)/)
    }))
})

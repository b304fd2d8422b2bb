/**
 * Certificates for the TLS tests, made with `openssl` (OpenSSL 3) in a scoped temporary directory:
 * a CA and what it signs (a server certificate for 127.0.0.1 and localhost, one for another name,
 * an expired one, a client certificate), and another CA with a client certificate of its own.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"

/** A certificate and its key, as files and as PEM text. */
export interface Pair {
  readonly certFile: string
  readonly keyFile: string
  readonly cert: string
  readonly key: string
}

export interface Certificates {
  readonly dir: string
  readonly ca: Pair
  /** For IP 127.0.0.1 and DNS localhost, signed by `ca`. */
  readonly server: Pair
  /** For DNS example.test only, signed by `ca`. */
  readonly otherName: Pair
  /** For 127.0.0.1 and localhost, signed by `ca`, expired yesterday. */
  readonly expired: Pair
  /** A client certificate signed by `ca`. */
  readonly client: Pair
  readonly otherCa: Pair
  /** A client certificate signed by `otherCa`. */
  readonly otherClient: Pair
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })

const pair = (dir: string, name: string): Pair => {
  const certFile = path.join(dir, `${name}.pem`)
  const keyFile = path.join(dir, `${name}.key`)
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") }
}

const makeCa = (dir: string, name: string): Pair => {
  openssl(dir, [
    "req",
    "-x509",
    ...KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-subj",
    `/CN=ferry test ${name}`,
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign"
  ])
  return pair(dir, name)
}

let serial = 1

/** A certificate signed by `ca`, valid for `days` from now (negative: expired). */
const makeSigned = (dir: string, ca: Pair, name: string, extensions: ReadonlyArray<string>, days = 2): Pair => {
  writeFileSync(path.join(dir, `${name}.ext`), ["basicConstraints=CA:FALSE", ...extensions].join("\n") + "\n")
  openssl(dir, ["req", ...KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`])
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-set_serial",
    String(serial++),
    "-days",
    String(days),
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`
  ])
  return pair(dir, name)
}

const SERVER = ["subjectAltName=IP:127.0.0.1,DNS:localhost", "extendedKeyUsage=serverAuth"]
const CLIENT = ["extendedKeyUsage=clientAuth"]

/** Made once per call, removed when the scope closes. */
export const make: Effect.Effect<Certificates, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), "ferry-certs-"))),
  (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
).pipe(Effect.flatMap((dir) =>
  Effect.sync(() => {
    const ca = makeCa(dir, "ca")
    const otherCa = makeCa(dir, "other-ca")
    return {
      dir,
      ca,
      server: makeSigned(dir, ca, "server", SERVER),
      otherName: makeSigned(dir, ca, "other-name", ["subjectAltName=DNS:example.test", "extendedKeyUsage=serverAuth"]),
      expired: makeSigned(dir, ca, "expired", SERVER, -1),
      client: makeSigned(dir, ca, "client", CLIENT),
      otherCa,
      otherClient: makeSigned(dir, otherCa, "other-client", CLIENT)
    }
  })
))

/**
 * TLS on the command line: the server's certificate, key and client CA, the client's --tls and what
 * it trusts or shows, each read and checked before anything connects or listens (a bad one is an
 * invalid argument), and what the server says to a client its TLS refuses.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Tls from "node:tls"
import * as NodeSocketClient from "../layers/NodeSocketClient.js"
import type * as NodeSocketServer from "../layers/NodeSocketServer.js"
import * as Codec from "../protocol/Codec.js"

const invalidValue = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))
const invalid = (message: string) => Effect.fail(invalidValue(message))

/** A PEM file named by an option or its environment variable. */
const pemFile = (name: string, variable: string | undefined, description: string) =>
  Options.text(name).pipe(
    variable === undefined ? (options) => options : Options.withFallbackConfig(Config.string(variable)),
    Options.optional,
    Options.withDescription(variable === undefined ? description : `${description} Env: ${variable}.`)
  )

/** The text of the file at `path` (when given), or why it cannot be read. */
const readPem = (option: string, path: Option.Option<string>) =>
  Option.match(path, {
    onNone: () => Effect.succeed(undefined),
    onSome: (path) =>
      Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
        Effect.mapError((error) =>
          invalidValue(`--${option}: cannot read ${path}${error._tag === "SystemError" ? ` (${error.reason})` : ""}`)
        )
      )
  })

/** Fails unless Node can make a TLS context of what was read: a certificate and key that do not match, say. */
const checkContext = (options: string, pems: Tls.SecureContextOptions) =>
  Effect.try({
    try: () => void Tls.createSecureContext({ minVersion: "TLSv1.2", ...pems }),
    catch: (error) => invalidValue(`${options}: ${error instanceof Error ? error.message : String(error)}`)
  })

// The server

export interface ServerTls {
  readonly cert: string
  readonly key: string
  readonly clientCa?: string
}

export const serverTls = Options.all({
  cert: pemFile(
    "tls-cert",
    "FERRY_TLS_CERT",
    "Speak TLS only (1.2 or 1.3), with this certificate (PEM, intermediates after it); needs --tls-key."
  ),
  key: pemFile("tls-key", "FERRY_TLS_KEY", "The key of --tls-cert (PEM, unencrypted)."),
  clientCa: pemFile(
    "client-ca",
    "FERRY_CLIENT_CA",
    "Require a client certificate signed by this CA (PEM); needs --tls-cert."
  )
}).pipe(Options.mapEffect((paths) =>
  Effect.gen(function*() {
    if (Option.isSome(paths.cert) !== Option.isSome(paths.key)) {
      return yield* invalid("--tls-cert and --tls-key go together: give both, or neither")
    }
    if (Option.isNone(paths.cert)) {
      if (Option.isSome(paths.clientCa)) return yield* invalid("--client-ca needs --tls-cert and --tls-key")
      return Option.none<ServerTls>()
    }
    const cert = (yield* readPem("tls-cert", paths.cert))!
    const key = (yield* readPem("tls-key", paths.key))!
    const clientCa = yield* readPem("client-ca", paths.clientCa)
    yield* checkContext("--tls-cert, --tls-key", { cert, key })
    if (clientCa !== undefined) yield* checkContext("--client-ca", { ca: clientCa })
    return Option.some<ServerTls>({ cert, key, ...(clientCa === undefined ? {} : { clientCa }) })
  })
))

/** What the server says to a client refused at the TLS gate (docs/PROTOCOL.md, 10.4). */
const refusal = (refused: NodeSocketServer.TlsRefusal): Uint8Array => {
  switch (refused.reason) {
    case "NotTls":
      return Codec.encodeFailure(0, Codec.Status.TlsRequired, "this port speaks TLS only: connect with TLS (--tls)")
    case "NoCertificate":
      return Codec.encodeFailure(0, Codec.Status.TlsRequired, "a client certificate is required")
    case "CertificateRefused":
      return Codec.encodeFailure(0, Codec.Status.TlsRequired, `client certificate not accepted: ${refused.detail}`)
  }
}

/**
 * The listener's TLS, if any: a client has the request timeout to finish its handshake, and there are
 * at most as many handshakes under way as connections served.
 */
export const serverLayerOptions = (
  tls: Option.Option<ServerTls>,
  limits: { readonly requestTimeout: Duration.DurationInput; readonly maxConnections: number }
): { readonly tls?: NodeSocketServer.TlsOptions } =>
  Option.match(tls, {
    onNone: () => ({}),
    onSome: (tls) => ({
      tls: { ...tls, handshakeTimeout: limits.requestTimeout, maxHandshakes: limits.maxConnections, refusal }
    })
  })

// The client

export const clientTls = Options.all({
  tls: Options.boolean("tls").pipe(
    Options.withFallbackConfig(Config.boolean("FERRY_TLS")),
    Options.withDescription(
      "Connect over TLS, checking the server's certificate and name against the CAs Node trusts (or --ca). " +
        "Env: FERRY_TLS."
    )
  ),
  ca: pemFile("ca", "FERRY_CA", "With --tls: trust only the CAs in this file (PEM) to sign the server's certificate."),
  cert: pemFile("cert", "FERRY_CERT", "With --tls: show this client certificate (PEM); needs --key."),
  key: pemFile("key", "FERRY_KEY", "The key of --cert (PEM, unencrypted)."),
  // No environment variable: turning the check off is said on the command line, every time.
  insecure: Options.boolean("insecure").pipe(
    Options.withDescription("With --tls: do not check the server's certificate or name (a warning says so).")
  )
}).pipe(Options.mapEffect((given) =>
  Effect.gen(function*() {
    if (!given.tls) {
      if (Option.isSome(given.ca) || Option.isSome(given.cert) || Option.isSome(given.key) || given.insecure) {
        return yield* invalid("--ca, --cert, --key and --insecure go with --tls")
      }
      return Option.none<NodeSocketClient.TlsOptions>()
    }
    if (Option.isSome(given.cert) !== Option.isSome(given.key)) {
      return yield* invalid("--cert and --key go together: give both, or neither")
    }
    const ca = yield* readPem("ca", given.ca)
    const cert = yield* readPem("cert", given.cert)
    const key = yield* readPem("key", given.key)
    if (ca !== undefined) yield* checkContext("--ca", { ca })
    if (cert !== undefined) yield* checkContext("--cert, --key", { cert, key })
    return Option.some<NodeSocketClient.TlsOptions>({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined || key === undefined ? {} : { cert, key }),
      insecure: given.insecure
    })
  })
))

/** The client's transport for `tls`, warning first when the server's certificate goes unchecked. */
export const clientLayer = (tls: Option.Option<NodeSocketClient.TlsOptions>) =>
  Option.match(tls, {
    onNone: () => NodeSocketClient.layer,
    onSome: (tls) =>
      Layer.merge(
        NodeSocketClient.layerWith({ tls }),
        tls.insecure === true
          ? Layer.effectDiscard(Console.error(
            "ferry-client: warning: --insecure: the server's certificate is not checked, so anyone on the way can " +
              "pose as the server and read or change what is sent"
          ))
          : Layer.empty
      )
  })

/** How the client's TLS shows in its failures: whether it had TLS, and a certificate to show. */
export const describedTls = (tls: Option.Option<NodeSocketClient.TlsOptions>) =>
  Option.match(tls, {
    onNone: () => ({}),
    onSome: (tls) => ({ tls: { certificate: tls.cert !== undefined } })
  })

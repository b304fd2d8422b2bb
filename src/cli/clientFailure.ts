/** Every way a client command can fail, as the one line the user reads and the code it exits with. */
import type * as Effect from "effect/Effect"
import { printable } from "../format/Printable.js"
import type { DestinationError, TransferError } from "../programs/client/errors.js"
import * as Codec from "../protocol/Codec.js"
import type { ProtocolError } from "../protocol/ProtocolError.js"
import type { ConnectionError } from "../services/Connection.js"
import { type ExitCode, exitWith } from "./ExitCode.js"

/** The client's exit codes, shown in `--help` and the README. */
export const EXIT_CODES = {
  ok: [0, "success"],
  internal: [1, "unexpected internal error (a bug: please report it)"],
  usage: [2, "invalid arguments"],
  notFound: [3, "the server has no such file"],
  connect: [4, "cannot connect to the server"],
  connectionLost: [5, "connection lost before the transfer completed"],
  corrupt: [6, "the data received is corrupt, or not ferry protocol"],
  destination: [7, "cannot write into the destination directory (missing, read-only, disk full)"],
  busy: [8, "the server is busy: try again later"],
  server: [9, "the server failed or refused the request"],
  version: [10, "the server speaks another version of the ferry protocol"],
  noListing: [11, "the server does not allow listing (ls, directory downloads)"],
  locked: [12, "another ferry-client is downloading the same file into the same directory"],
  tls: [
    14,
    "TLS failed: certificate refused, wrong host name, expired, or the port does not speak TLS (or speaks only TLS)"
  ],
  unauthorized: [13, "the server refused the token (none, unknown, expired, or not for this file or command)"]
} as const satisfies Record<string, readonly [number, string]>

export type ClientFailure = ConnectionError | ProtocolError | TransferError | DestinationError

const NOTHING_SAVED = "nothing was saved"

/** What a failure means to the user: the exit code and the one line that says what to do. */
export interface Described {
  readonly code: number
  readonly message: string
}

/** The server a failure is described for, and how the client spoke to it. */
export interface Target {
  readonly host: string
  readonly port: number
  /** Over TLS: whether the client had a certificate to show. */
  readonly tls?: { readonly certificate: boolean }
}

export const describeFailure = (
  server: Target,
  name: string,
  error: ClientFailure,
  /** Whether a partial file that the same command can resume is left. */
  kept = false
): Described => {
  const where = `${server.host}:${server.port}`
  const KEPT = kept ? "what arrived is kept: run the same command again to resume" : NOTHING_SAVED
  const fail = (code: readonly [number, string], message: string): Described => ({ code: code[0], message })
  switch (error._tag) {
    case "ConnectionError":
      switch (error.reason) {
        case "Refused":
          return fail(EXIT_CODES.connect, `cannot connect to ${where} (${error.message}): is the server running there?`)
        case "Stalled":
          return fail(EXIT_CODES.connectionLost, `${where} stopped sending (try a longer --timeout): ${KEPT}`)
        case "Tls":
          return fail(EXIT_CODES.tls, describeTls(server, error))
        default:
          return fail(EXIT_CODES.connectionLost, `connection to ${where} lost (${error.message}): ${KEPT}`)
      }
    case "ProtocolError":
      switch (error.reason) {
        case "Truncated":
          return fail(EXIT_CODES.connectionLost, `connection to ${where} closed mid-response: ${KEPT}`)
        case "UnsupportedVersion":
          return fail(
            EXIT_CODES.version,
            `${where} speaks ferry protocol version ${error.version ?? "?"}, this client version ${Codec.VERSION}: ` +
              "use a client and server of the same version"
          )
        default:
          return fail(EXIT_CODES.corrupt, `invalid response from ${where} (${error.message}): is it a ferry server?`)
      }
    case "DestinationError":
      return error.reason === "Locked"
        ? fail(EXIT_CODES.locked, printable(error.message))
        : fail(EXIT_CODES.destination, printable(error.message))
    case "TransferError":
      switch (error.reason) {
        case "Corrupt":
          return fail(EXIT_CODES.corrupt, `${error.message}: ${NOTHING_SAVED}`)
        case "Aborted":
          return fail(
            EXIT_CODES.server,
            `the server failed while sending ${printable(name)} (${printable(error.message)}): try again`
          )
        case "Refused":
          switch (error.status) {
            case Codec.Status.NotFound:
              return fail(EXIT_CODES.notFound, `no such file on ${where}: ${printable(name)}`)
            case Codec.Status.ListingDisabled:
              return fail(
                EXIT_CODES.noListing,
                `${where} does not allow listing (started with --no-listing): ask for files by name`
              )
            case Codec.Status.Busy:
              return fail(EXIT_CODES.busy, `${where} is busy: try again later`)
            case Codec.Status.Unauthorized:
              return fail(EXIT_CODES.unauthorized, `not authorized for ${printable(name)} on ${where}: check --token`)
            case Codec.Status.Timeout:
              return fail(EXIT_CODES.server, `${where} gave up waiting for the request: try again`)
            case Codec.Status.TlsRequired:
              return fail(EXIT_CODES.tls, describeTlsRefusal(server, error.message))
            case Codec.Status.UnsupportedDigest:
              return fail(
                EXIT_CODES.server,
                `${where} cannot check the file with the digest asked for (${printable(error.message)}): ` +
                  "try another --digest"
              )
            default:
              return fail(EXIT_CODES.server, `${where} refused the request: ${printable(error.message)}`)
          }
      }
  }
}

/** A TLS failure, as the one thing to do about it. */
const describeTls = (server: Target, error: ConnectionError): string => {
  const where = `${server.host}:${server.port}`
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code
  switch (error.tls) {
    case "Untrusted":
      return `the certificate of ${where} is not signed by a CA this client trusts (${code}): ` +
        "give the CA that signed it with --ca FILE"
    case "HostName":
      return `the certificate of ${where} is not issued for "${printable(server.host)}": ` +
        "connect by a name (or address) it is issued for"
    case "Expired":
      return `the certificate of ${where} has expired: the server needs a new one`
    case "NotYetValid":
      return `the certificate of ${where} is not valid yet: check the clocks here and on the server`
    case "NotTls":
      return `${where} does not speak TLS (a plain ferry port?): connect without --tls`
    default:
      return `TLS with ${where} failed (${printable(error.message)}): does it speak TLS, and take this client's ` +
        "certificate?"
  }
}

/** The server's TLS refused this client (docs/PROTOCOL.md, 10.4): the client knows what it lacked. */
const describeTlsRefusal = (server: Target, message: string): string => {
  const where = `${server.host}:${server.port}`
  if (server.tls === undefined) return `${where} speaks TLS only: connect with --tls (and --ca FILE for its CA)`
  if (!server.tls.certificate) return `${where} requires a client certificate: give one with --cert FILE --key FILE`
  return `${where} did not accept this client's certificate (${printable(message)}): ` +
    "use one signed by the CA the server trusts"
}

/** Ends the command with the failure's exit code, after its one line on stderr. */
export const clientFailure = (
  program: string,
  server: Target,
  name: string,
  error: ClientFailure,
  kept = false
): Effect.Effect<never, ExitCode> => {
  const { code, message } = describeFailure(server, name, error, kept)
  return exitWith(program, code, message)
}

/** What Node's TLS errors mean to a client: its error codes, sorted into the few problems a user can act on. */
import type { TlsProblem } from "../../services/Connection.js"

// OpenSSL's verification results, as Node names them (X509_V_ERR_* without the prefix).
const UNTRUSTED = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_REVOKED",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED"
])

// What OpenSSL says when the bytes where a TLS record should be are something else.
const NOT_TLS = new Set(["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_PACKET_LENGTH_TOO_LONG", "ERR_SSL_UNKNOWN_PROTOCOL"])

/** The problem a TLS error stands for; `undefined` for an error that is not TLS's (a reset, a refusal). */
export const tlsProblem = (cause: unknown): TlsProblem | undefined => {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  if (code === undefined) return undefined
  if (UNTRUSTED.has(code)) return "Untrusted"
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return "HostName"
  if (code === "CERT_HAS_EXPIRED") return "Expired"
  if (code === "CERT_NOT_YET_VALID") return "NotYetValid"
  if (NOT_TLS.has(code)) return "NotTls"
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) return "Failed"
  return undefined
}

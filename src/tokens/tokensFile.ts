/**
 * The tokens file: one token a line, `label:sha256:prefixes:expires:admin`, with `#` comments and
 * blank lines, read strictly (a line that is not a token is an error naming it) and written by
 * `ferry-server token create`.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { isAcceptableName } from "../services/FileName.js"
import type { Grant } from "../services/Tokens.js"

/** What the file says of itself when `token create` makes it. */
export const HEADER = [
  "# ferry access tokens, one a line: label:sha256:prefixes:expires:admin",
  "#   sha256    the SHA-256 of the token, in hex (the token itself is never stored)",
  "#   prefixes  the names it may read, comma-separated (a file, or a directory and all under it); * or empty: all",
  "#   expires   an ISO date or date-time with its zone (2027-01-01, 2027-01-01T12:00:00Z); empty: never",
  "#   admin     admin: may also ask for the statistics (stats) and the cache's listing (list); empty: not",
  "# Made with: ferry-server token create --label L --prefix P --file FILE; reloaded on SIGHUP.",
  ""
].join("\n")

/** Labels appear in the request log: a short word, nothing a terminal or a log reader would act on. */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const HASH = /^[0-9a-fA-F]{64}$/
const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/

export const labelProblem = (label: string): string | undefined =>
  LABEL.test(label) ? undefined : `label ${JSON.stringify(label)} is not 1 to 64 letters, digits, '.', '_' or '-'`

/** A prefix as a name (without the slashes around it), or what is wrong with it. */
export const parsePrefix = (text: string): Either.Either<string, string> => {
  const prefix = text.replace(/^\/+|\/+$/g, "")
  if (/[:,]/.test(prefix)) return Either.left(`prefix ${JSON.stringify(text)} holds ':' or ','`)
  return isAcceptableName(prefix)
    ? Either.right(prefix)
    : Either.left(`prefix ${JSON.stringify(text)} is not a name the server could serve`)
}

/** An instant as the file writes it: ISO 8601, UTC, without milliseconds when there are none. */
export const formatInstant = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, "Z")

/** An ISO date (midnight UTC) or date-time with its zone, as milliseconds since the epoch. */
export const parseInstant = (text: string): Option.Option<number> => {
  const parts = DATE.exec(text)
  if (parts === null) return Option.none()
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  // Date.parse takes 2026-02-30 for March 2: the day must exist.
  const date = new Date(Date.UTC(year, month - 1, day))
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return Option.none()
  const ms = Date.parse(text)
  return Number.isFinite(ms) ? Option.some(ms) : Option.none()
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/** `--expires`: a time from now (`90m`, `12h`, `30d`, `2w`) or an instant (`parseInstant`). */
export const parseExpiry = (text: string, now: number): Option.Option<number> => {
  const relative = /^(\d{1,6})([mhdw])$/.exec(text)
  // Whole seconds: the file says when, not to the millisecond.
  if (relative !== null) return Option.some(Math.floor(now / 1000) * 1000 + Number(relative[1]) * UNITS[relative[2]!]!)
  return parseInstant(text)
}

/** What a line that is not a token says is wrong with it. */
const grantOf = (line: string): Either.Either<Grant, string> => {
  const fields = line.split(":")
  if (fields.length < 5) {
    return Either.left(`expected label:sha256:prefixes:expires:admin, found ${fields.length} fields`)
  }
  // The expiry is the only field that may hold ':' (12:00:00Z): it is everything between the third and the last.
  const [label, hash, prefixes] = fields as [string, string, string]
  const expires = fields.slice(3, -1).join(":")
  const admin = fields[fields.length - 1]!
  const badLabel = labelProblem(label)
  if (badLabel !== undefined) return Either.left(badLabel)
  if (!HASH.test(hash)) return Either.left("the hash is not 64 hex digits (the SHA-256 of the token)")
  let paths: Grant["prefixes"] = "all"
  if (prefixes !== "" && prefixes !== "*") {
    if (prefixes.split(",").includes("*")) return Either.left("'*' (everything) goes alone")
    const parsed = prefixes.split(",").map(parsePrefix)
    const wrong = parsed.find(Either.isLeft)
    if (wrong !== undefined) return Either.left(wrong.left)
    paths = parsed.map((prefix) => Either.getOrThrow(prefix))
  }
  const expiresAt = expires === "" ? Option.none() : parseInstant(expires)
  if (expires !== "" && Option.isNone(expiresAt)) {
    return Either.left(`expiry ${JSON.stringify(expires)} is not an ISO date, or date-time with a zone`)
  }
  if (admin !== "" && admin !== "admin") {
    return Either.left(`the last field is ${JSON.stringify(admin)}: admin or empty`)
  }
  return Either.right({
    label,
    hash: Uint8Array.from(Buffer.from(hash, "hex")),
    prefixes: paths,
    expiresAt,
    admin: admin === "admin"
  })
}

/** Every token in `text`, or the first line that is not one. */
export const parseTokens = (
  text: string
): Either.Either<ReadonlyArray<Grant>, { readonly line: number; readonly detail: string }> => {
  const grants: Array<Grant> = []
  const labels = new Set<string>()
  const hashes = new Set<string>()
  const lines = text.split("\n")
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) continue
    const grant = grantOf(line)
    if (Either.isLeft(grant)) return Either.left({ line: i + 1, detail: grant.left })
    const { hash, label } = grant.right
    if (labels.has(label)) return Either.left({ line: i + 1, detail: `label ${label} is used twice` })
    const hex = Buffer.from(hash).toString("hex")
    if (hashes.has(hex)) return Either.left({ line: i + 1, detail: "the same token is listed twice" })
    labels.add(label)
    hashes.add(hex)
    grants.push(grant.right)
  }
  return Either.right(grants)
}

/** A token's line, as `parseTokens` reads it back. */
export const formatGrant = (grant: Grant): string =>
  [
    grant.label,
    Buffer.from(grant.hash).toString("hex"),
    grant.prefixes === "all" ? "*" : grant.prefixes.join(","),
    Option.match(grant.expiresAt, { onNone: () => "", onSome: formatInstant }),
    grant.admin ? "admin" : ""
  ].join(":")

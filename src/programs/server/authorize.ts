/**
 * Who may ask for what, when the server requires tokens: an AUTH makes a connection's later
 * requests those of its token, and each request is allowed or refused on its name alone, before
 * anything is looked up, so that a refusal never tells whether the name exists. Without tokens,
 * everything is allowed, and an AUTH with any token is accepted.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Codec from "../../protocol/Codec.js"
import type { Grant, TokenTable } from "../../services/Tokens.js"
import { findGrant, hashToken } from "../../tokens/secret.js"

/** The SHA-256 of the token a connection's last accepted AUTH carried; `None` before one. */
export type Caller = Option.Option<Uint8Array>
export const anonymous: Caller = Option.none()

/** What a request may have: refused (why, for the reply and the log), or allowed (a listing maybe filtered). */
export interface Access {
  /** The token's label, for the log line. */
  readonly label?: string
  readonly refusal?: string
  /** For an LS: whether an entry may be shown. */
  readonly show?: (entry: Codec.TreeEntry) => boolean
}

export const REFUSALS = {
  noToken: "no token: send AUTH first",
  unknown: "unknown token",
  expired: "token expired",
  revoked: "token revoked",
  outside: "outside the token's paths",
  notAdmin: "needs an admin token"
} as const

const within = (name: string, prefix: string) => name === prefix || name.startsWith(`${prefix}/`)

/** Whether `grant` may read `name` (a file, or a directory's listing). */
export const mayRead = (grant: Grant, name: string): boolean =>
  grant.prefixes === "all" || grant.prefixes.some((prefix) => within(name, prefix))

/** Whether a directory lies on the way to one of `grant`'s prefixes: listed, though not all under it is. */
const leadsTo = (grant: Grant, directory: string): boolean =>
  grant.prefixes !== "all" && grant.prefixes.some((prefix) => directory === "" || prefix.startsWith(`${directory}/`))

const isExpired = (grant: Grant, now: number) => Option.exists(grant.expiresAt, (at) => now >= at)

/** The grant a caller holds now, or why it holds none: a reload may have dropped it, time expired it. */
const grantOf = (caller: Caller, table: TokenTable, now: number): Either.Either<Grant, Access> => {
  if (Option.isNone(caller)) return Either.left({ refusal: REFUSALS.noToken })
  const grant = findGrant(table.grants, caller.value)
  if (grant === undefined) return Either.left({ refusal: REFUSALS.revoked })
  return isExpired(grant, now) ? Either.left({ label: grant.label, refusal: REFUSALS.expired }) : Either.right(grant)
}

/** An AUTH: the caller the connection becomes, and how it is answered. A refused one leaves it anonymous. */
export const authenticate = (
  token: string,
  tokens: Option.Option<TokenTable>,
  now: number
): Access & { readonly caller: Caller } => {
  const hash = hashToken(token)
  if (Option.isNone(tokens)) return { caller: Option.some(hash) }
  const grant = findGrant(tokens.value.grants, hash)
  if (grant === undefined) return { caller: anonymous, refusal: REFUSALS.unknown }
  if (isExpired(grant, now)) return { caller: anonymous, label: grant.label, refusal: REFUSALS.expired }
  return { caller: Option.some(hash), label: grant.label }
}

/** Whether `request` (not an AUTH) may be answered for `caller`. */
export const authorize = (
  request: Exclude<Codec.Request, { readonly _tag: "Auth" }>,
  caller: Caller,
  tokens: Option.Option<TokenTable>,
  now: number
): Access => {
  if (Option.isNone(tokens)) return {}
  const held = grantOf(caller, tokens.value, now)
  if (Either.isLeft(held)) return held.left
  const grant = held.right
  const label = grant.label
  switch (request._tag) {
    case "Get":
    case "Stat":
      return mayRead(grant, request.name) ? { label } : { label, refusal: REFUSALS.outside }
    case "Ls": {
      // "docs/" is "docs", as the listing itself takes it.
      const path = request.path.replace(/\/+$/, "")
      if (mayRead(grant, path)) return { label }
      if (!leadsTo(grant, path)) return { label, refusal: REFUSALS.outside }
      return {
        label,
        show: (entry) => mayRead(grant, entry.path) || (entry.type === "directory" && leadsTo(grant, entry.path))
      }
    }
    case "List":
    case "Stats":
      return grant.admin ? { label } : { label, refusal: REFUSALS.notAdmin }
  }
}

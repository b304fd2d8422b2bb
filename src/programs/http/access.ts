/**
 * Who may ask the HTTP door for what: the token of `Authorization: Bearer T`, held to the same
 * grants as a native AUTH, and each request allowed or refused on its name alone, before anything is
 * looked up, so that a refusal never tells whether the name exists (a hostile name included).
 */
import * as Option from "effect/Option"
import * as Codec from "../../protocol/Codec.js"
import type { TokenTable } from "../../services/Tokens.js"
import { type Access, anonymous, authenticate, authorize, REFUSALS } from "../server/authorize.js"
import type { Target } from "./names.js"

const BEARER = /^Bearer[ \t]+([^\s,]+)[ \t]*$/i

/** What `target` may have with this `Authorization` header; a token that is not one is refused. */
export const accessFor = (
  authorization: string | undefined,
  target: Target,
  tokens: Option.Option<TokenTable>,
  now: number
): Access => {
  if (Option.isNone(tokens)) return {}
  const bearer = authorization === undefined ? null : BEARER.exec(authorization)
  let caller = anonymous
  if (bearer !== null) {
    const authenticated = authenticate(bearer[1]!, tokens, now)
    if (authenticated.refusal !== undefined) return authenticated
    caller = authenticated.caller
  }
  const request = target._tag === "Directory"
    ? Codec.Request.Ls({ path: target.path, recursive: false })
    : Codec.Request.Get({ name: target.name, digests: [] })
  return authorize(request, caller, tokens, now)
}

/**
 * The status of a refusal: 403 for a valid token that does not reach the name, 401 (which asks for a
 * token) for no token or one that is not valid.
 */
export const refusalStatus = (refusal: string): 401 | 403 => refusal === REFUSALS.outside ? 403 : 401

/** RFC 6750's challenge: `invalid_token` when one was sent and is not good. */
export const challengeFor = (refusal: string): string =>
  refusal === REFUSALS.noToken ? "Bearer realm=\"ferry\"" : "Bearer realm=\"ferry\", error=\"invalid_token\""

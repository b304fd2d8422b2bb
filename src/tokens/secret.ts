/**
 * Tokens as secrets: made from 32 random bytes, kept only as their SHA-256, and matched in constant
 * time. A random 256-bit token cannot be guessed from its hash, so a fast hash is enough; a slow one
 * (scrypt), which protects low-entropy passwords, would only make each AUTH cost the server
 * milliseconds of CPU.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import type { Grant } from "../services/Tokens.js"

/** What every token `token create` makes starts with, so that one is recognized in a leak scanner. */
export const TOKEN_PREFIX = "fy_"

/** A new token: `fy_` and 43 base64url characters, 256 random bits. */
export const newToken = (): string => TOKEN_PREFIX + randomBytes(32).toString("base64url")

export const hashToken = (token: string): Uint8Array => Uint8Array.from(createHash("sha256").update(token).digest())

/**
 * The grant whose hash is `hash`, comparing with every one of them, in constant time each and with
 * no early exit: how long it takes says nothing about how close a guess came.
 */
export const findGrant = (grants: ReadonlyArray<Grant>, hash: Uint8Array): Grant | undefined => {
  let found: Grant | undefined
  for (const grant of grants) {
    if (grant.hash.length === hash.length && timingSafeEqual(grant.hash, hash) && found === undefined) found = grant
  }
  return found
}

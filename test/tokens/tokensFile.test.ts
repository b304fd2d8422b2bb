/**
 * The tokens file's format: every field read strictly, comments and blank lines passed over, each
 * problem named with its line, and what `token create` writes read back as it was.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import type { Grant } from "../../src/services/Tokens.js"
import { findGrant, hashToken, newToken } from "../../src/tokens/secret.js"
import { formatGrant, HEADER, parseExpiry, parseInstant, parseTokens } from "../../src/tokens/tokensFile.js"

const HASH = "a87d9be7de6eb4f37d13b9eeefbfb7476f688cc1776708b9e7d595c00dc69666"
const OTHER = "ff".repeat(32)

const grants = (text: string) => Either.getOrThrow(parseTokens(text))
const problem = (text: string) => Either.flip(parseTokens(text)).pipe(Either.getOrThrow)

describe("the tokens file", () => {
  it("reads each field: label, hash, prefixes, expiry with its colons, admin", () => {
    const text = [
      "# a comment",
      "",
      `ci:${HASH}:releases,docs/public/:2027-01-01T12:00:00Z:`,
      `  ops:${OTHER.toUpperCase()}:*::admin  `,
      `all:${"0".repeat(64)}::2027-01-01:`,
      "   # an indented comment",
      `bob:${"1".repeat(64)}:/a.txt:2027-01-01T12:00:00.5+02:00:\r`
    ].join("\n")
    const [ci, ops, all, bob] = grants(text)
    expect(ci).toEqual({
      label: "ci",
      hash: Uint8Array.from(Buffer.from(HASH, "hex")),
      prefixes: ["releases", "docs/public"],
      expiresAt: Option.some(Date.UTC(2027, 0, 1, 12)),
      admin: false
    })
    expect(ops).toMatchObject({ label: "ops", prefixes: "all", expiresAt: Option.none(), admin: true })
    expect(Buffer.from(ops!.hash).toString("hex")).toBe(OTHER)
    expect(all).toMatchObject({ prefixes: "all", expiresAt: Option.some(Date.UTC(2027, 0, 1)) })
    expect(bob).toMatchObject({ prefixes: ["a.txt"], expiresAt: Option.some(Date.UTC(2027, 0, 1, 10, 0, 0, 500)) })
    expect(grants("")).toEqual([])
    expect(grants(HEADER)).toEqual([])
  })

  it.each([
    ["ci", "expected label:sha256:prefixes:expires:admin, found 1 fields"],
    [`ci:${HASH}:*:`, "expected label:sha256:prefixes:expires:admin, found 4 fields"],
    [`c i:${HASH}:*::`, "label \"c i\" is not 1 to 64 letters, digits, '.', '_' or '-'"],
    [`:${HASH}:*::`, "label \"\" is not 1 to 64 letters, digits, '.', '_' or '-'"],
    [`${"l".repeat(65)}:${HASH}:*::`, "is not 1 to 64 letters"],
    [`ci:${HASH.slice(1)}:*::`, "the hash is not 64 hex digits (the SHA-256 of the token)"],
    ["ci:fy_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8:*::", "the hash is not 64 hex digits"],
    [`ci:${HASH}:docs,,a::`, "prefix \"\" is not a name the server could serve"],
    [`ci:${HASH}:../etc::`, "prefix \"../etc\" is not a name the server could serve"],
    [`ci:${HASH}:*,docs::`, "'*' (everything) goes alone"],
    [`ci:${HASH}:*:2027-02-30:`, "expiry \"2027-02-30\" is not an ISO date, or date-time with a zone"],
    [`ci:${HASH}:*:2027-01-01T12:00:`, "expiry \"2027-01-01T12:00\" is not an ISO date"],
    [`ci:${HASH}:*:tomorrow:`, "expiry \"tomorrow\" is not"],
    [`ci:${HASH}:*::yes`, "the last field is \"yes\": admin or empty"]
  ])("refuses %j, naming the line", (line, detail) => {
    const found = problem(`# tokens\n\n${line}\n`)
    expect(found.line).toBe(3)
    expect(found.detail).toContain(detail)
  })

  it("refuses a label or a token listed twice, at the second line", () => {
    expect(problem(`a:${HASH}:*::\nb:${OTHER}:*::\na:${"0".repeat(64)}:*::`)).toEqual({
      line: 3,
      detail: "label a is used twice"
    })
    expect(problem(`a:${HASH}:*::\nb:${HASH.toUpperCase()}:*::`)).toEqual({
      line: 2,
      detail: "the same token is listed twice"
    })
  })

  const label = FastCheck.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
  const segment = FastCheck.stringMatching(/^[a-zé ~=@0-9._-]{1,12}$/).filter((s) => s !== "." && s !== "..")
  const prefix = FastCheck.array(segment, { minLength: 1, maxLength: 3 }).map((segments) => segments.join("/"))
  const grant: FastCheck.Arbitrary<Grant> = FastCheck.record({
    label,
    hash: FastCheck.uint8Array({ minLength: 32, maxLength: 32 }),
    prefixes: FastCheck.oneof(
      FastCheck.constant("all" as const),
      FastCheck.array(prefix, { minLength: 1, maxLength: 4 })
    ),
    expiresAt: FastCheck.option(
      FastCheck.integer({ min: 0, max: 4_102_444_800 }).map((seconds) => seconds * 1000),
      { nil: undefined }
    ).map(Option.fromNullable),
    admin: FastCheck.boolean()
  })

  it.prop("what formatGrant writes reads back as it was", [grant], ([grant]) => {
    const [read] = grants(`${HEADER}${formatGrant(grant)}\n`)
    expect(read).toEqual({ ...grant, hash: Uint8Array.from(grant.hash) })
  })
})

describe("expiries", () => {
  const now = Date.UTC(2026, 11, 2, 5, 41, 59, 250)

  it("a time from now, in whole seconds, or an instant", () => {
    expect(parseExpiry("30d", now)).toEqual(Option.some(Date.UTC(2027, 0, 1, 5, 41, 59)))
    expect(parseExpiry("12h", now)).toEqual(Option.some(Date.UTC(2026, 11, 2, 17, 41, 59)))
    expect(parseExpiry("90m", now)).toEqual(Option.some(Date.UTC(2026, 11, 2, 7, 11, 59)))
    expect(parseExpiry("2w", now)).toEqual(Option.some(Date.UTC(2026, 11, 16, 5, 41, 59)))
    expect(parseExpiry("2027-06-01", now)).toEqual(Option.some(Date.UTC(2027, 5, 1)))
    for (const wrong of ["30", "d", "30 days", "-1d", "1y", "2027-06-01T10:00"]) {
      expect(parseExpiry(wrong, now), wrong).toEqual(Option.none())
    }
  })

  it("an instant names a day that exists, and a time with its zone", () => {
    expect(parseInstant("2028-02-29")).toEqual(Option.some(Date.UTC(2028, 1, 29)))
    for (
      const wrong of ["2027-02-29", "2027-13-01", "2027-00-10", "2027-01-01T25:00Z", "2027-1-1", "2027-01-01 10:00Z"]
    ) {
      expect(parseInstant(wrong), wrong).toEqual(Option.none())
    }
  })
})

describe("tokens as secrets", () => {
  it("a new token is fy_ and 43 base64url characters, never the same twice", () => {
    const made = Array.from({ length: 100 }, newToken)
    for (const token of made) expect(token).toMatch(/^fy_[A-Za-z0-9_-]{43}$/)
    expect(new Set(made).size).toBe(100)
  })

  it.effect("a token is found by its SHA-256, among all, and no other text finds it", () =>
    Effect.sync(() => {
      const token = "fy_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
      expect(Buffer.from(hashToken(token)).toString("hex")).toBe(HASH)
      const table = grants(`a:${OTHER}:*::\nb:${HASH}:*::\nc:${"0".repeat(64)}:*::`)
      expect(findGrant(table, hashToken(token))?.label).toBe("b")
      expect(findGrant(table, hashToken(token.slice(0, -1)))).toBeUndefined()
      expect(findGrant(table, hashToken(` ${token}`))).toBeUndefined()
      expect(findGrant(table, new Uint8Array(31))).toBeUndefined()
    }))
})

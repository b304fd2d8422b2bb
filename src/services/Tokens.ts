/**
 * The access tokens a server requires, as its operator lists them: who may read what, and who may
 * see the server's cache and statistics. A server without tokens is open to anyone.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"

/** One token: what it may do, and the SHA-256 of its text (never the text). */
export interface Grant {
  /** The operator's name for it, shown in the request log. */
  readonly label: string
  readonly hash: Uint8Array
  /** The names it may read: each a file, or a directory and everything under it; `all` for everything. */
  readonly prefixes: "all" | ReadonlyArray<string>
  /** When it stops working (milliseconds since the epoch), if ever. */
  readonly expiresAt: Option.Option<number>
  /** Whether it may ask for the cache's listing (LIST) and the statistics (STATS). */
  readonly admin: boolean
}

export interface TokenTable {
  readonly grants: ReadonlyArray<Grant>
  /** Where they were read from, for the start-up line. */
  readonly source: string
}

/** The tokens file could not be used: the server does not start, or keeps the tokens it has. */
export class TokensError extends Data.TaggedError("TokensError")<{
  /**
   * - `Missing`: there is no such file;
   * - `Unreadable`: not a file, or not readable by the server;
   * - `Unsafe`: readable or writable by group or others;
   * - `Malformed`: a line that is not a token (see `line`);
   * - `Unwritable`: a new token could not be added to it.
   */
  readonly reason: "Missing" | "Unreadable" | "Unsafe" | "Malformed" | "Unwritable"
  readonly path: string
  /** For `Malformed`: the line's number, from 1. */
  readonly line?: number
  readonly detail: string
}> {
  override get message(): string {
    switch (this.reason) {
      case "Missing":
        return `tokens file not found: ${this.path}`
      case "Unreadable":
        return `cannot read the tokens file ${this.path}: ${this.detail}`
      case "Unsafe":
        return `the tokens file ${this.path} ${this.detail}: chmod 600 ${this.path}`
      case "Malformed":
        return `the tokens file ${this.path}, line ${this.line}: ${this.detail}`
      case "Unwritable":
        return `cannot write the tokens file ${this.path}: ${this.detail}`
    }
  }
}

export class Tokens extends Context.Tag("ferry/Tokens")<Tokens, {
  /** The tokens in force now (replaced whole when they are reloaded); `None`: open to anyone. */
  readonly current: Effect.Effect<Option.Option<TokenTable>>
}>() {}

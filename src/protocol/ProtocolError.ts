/** Bytes that are not a valid ferry message. */
import * as Data from "effect/Data"

export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  /**
   * - `BadMagic`: not a ferry message at all;
   * - `UnsupportedVersion`: a ferry message of a version this side does not speak;
   * - `TooLarge`: a declared length above the protocol's limit;
   * - `Malformed`: an unknown kind or status, a bad field, or more bytes than declared;
   * - `Truncated`: the input ended in the middle of a message.
   */
  readonly reason: "BadMagic" | "UnsupportedVersion" | "TooLarge" | "Malformed" | "Truncated"
  readonly detail: string
  /** With `UnsupportedVersion`: the version the peer speaks. */
  readonly version?: number
}> {
  override get message(): string {
    return this.detail
  }
}

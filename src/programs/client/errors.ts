/** What can go wrong for a client beyond the connection and the wire format. */
import * as Data from "effect/Data"
import type * as Codec from "../../protocol/Codec.js"

/** The server answered, but not with the file: a failure status, an aborted body, bad content. */
export class TransferError extends Data.TaggedError("TransferError")<{
  /**
   * - `Refused`: the server answered with a failure status (see `status`);
   * - `Aborted`: the server gave up part-way through the body;
   * - `Corrupt`: the bytes received do not match the size or digest the server announced.
   */
  readonly reason: "Refused" | "Aborted" | "Corrupt"
  readonly status?: Codec.FailureStatus
  readonly detail: string
}> {
  override get message(): string {
    return this.detail
  }
}

/** The local side of a download: the destination directory and the file written into it. */
export class DestinationError extends Data.TaggedError("DestinationError")<{
  /** `Locked`: another client is downloading the same file into the same directory (`holder`, its pid). */
  readonly reason: "Missing" | "NotADirectory" | "NotWritable" | "NoSpace" | "Failed" | "Locked"
  readonly path: string
  readonly holder?: number
  readonly cause?: unknown
}> {
  override get message(): string {
    switch (this.reason) {
      case "Missing":
        return `destination directory does not exist: ${this.path}`
      case "NotADirectory":
        return `destination is not a directory: ${this.path}`
      case "NotWritable":
        return `cannot write into ${this.path}: permission denied or read-only file system`
      case "NoSpace":
        return `no space left on the device holding ${this.path}`
      case "Locked":
        return `another ferry-client (pid ${this.holder}) is downloading ${this.path}: wait for it to finish`
      case "Failed":
        return `cannot write into ${this.path}${this.cause instanceof Error ? `: ${this.cause.message}` : ""}`
    }
  }
}

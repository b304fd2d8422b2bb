/**
 * The one place the lean load generator knows the wire format: a GET request's bytes, and a scan of
 * a GET's response over the chunks a socket delivers, skipping the body unless told to look at it.
 * Protocol version 2 (src/protocol/Codec.ts, docs/PROTOCOL.md).
 */
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, digestOfId, DIGESTS } from "../../src/protocol/Digest.js"

/** The bytes of a GET request for `name`, to be checked with `digest`. */
export const getRequest = (name: string, digest: Digest): Buffer =>
  Buffer.from(Codec.encodeRequest(Codec.Request.Get({ name, digests: [digest] })))

/**
 * A response read to its end: a complete file (its size, and its trailer's digest, valid until the
 * next `expect`), or why it is not one.
 */
export type Scanned =
  | { readonly _tag: "File"; readonly size: number; readonly algorithm: Digest; readonly digest: Buffer }
  | { readonly _tag: "Failed"; readonly detail: string }

// The parts of a response, each a field of known length but the body, which is skipped.
type Part =
  | "head" // "FRY", version, status, kind
  | "size" // the digest's algorithm, the version and where the body starts
  | "failureLength"
  | "failureMessage"
  | "segmentHead"
  | "body"
  | "trailerStatus"
  | "digest"
  | "abortLength"
  | "abortMessage"

const HEAD_BYTES = 6
const SIZE_BYTES = Codec.FILE_HEAD_BYTES - HEAD_BYTES
const MAGIC = [0x46, 0x52, 0x59] as const

/**
 * Scans one response at a time: `expect` before each request, then `scan` every chunk that arrives
 * until `result` is set. Mutable and allocation-free on the body path: it runs once per chunk.
 */
export class ResponseScanner {
  private part: Part = "head"
  private want = HEAD_BYTES
  private have = 0
  private readonly field = Buffer.alloc(Codec.MAX_MESSAGE_BYTES)
  private size = 0
  private received = 0
  private left = 0
  private status = 0
  private algorithm: Digest = "xxh3-128"
  private onBody: ((bytes: Buffer) => void) | undefined
  /** The response, once it has been read to its end. */
  result: Scanned | undefined

  /** Readies the scanner for the next response; `onBody` is shown the body, piece by piece. */
  expect(onBody?: (bytes: Buffer) => void) {
    this.part = "head"
    this.want = HEAD_BYTES
    this.have = 0
    this.onBody = onBody
    this.result = undefined
  }

  /**
   * Scans `chunk` from `at` to `end` (a read into a reused buffer fills only its start); returns where
   * it stopped: `end`, or just after the response.
   */
  scan(chunk: Buffer, at: number, end: number): number {
    while (at < end && this.result === undefined) {
      if (this.part === "body") {
        const n = Math.min(this.left, end - at)
        this.onBody?.(chunk.subarray(at, at + n))
        this.left -= n
        this.received += n
        at += n
        if (this.left === 0) this.next("segmentHead", 4)
        continue
      }
      const n = Math.min(this.want - this.have, end - at)
      chunk.copy(this.field, this.have, at, at + n)
      this.have += n
      at += n
      if (this.have === this.want) this.fieldRead()
    }
    return at
  }

  private next(part: Part, want: number) {
    this.part = part
    this.want = want
    this.have = 0
  }

  private fail(detail: string) {
    this.result = { _tag: "Failed", detail }
  }

  private fieldRead(): void {
    const field = this.field
    switch (this.part) {
      case "head": {
        if (MAGIC.some((byte, i) => field[i] !== byte)) return this.fail("not a ferry response")
        if (field[3] !== Codec.VERSION) return this.fail(`protocol version ${field[3]}, not ${Codec.VERSION}`)
        this.status = field[4]!
        if (this.status !== Codec.Status.Ok) {
          if (!Codec.isFailureStatus(this.status)) return this.fail(`unknown status ${this.status}`)
          return this.next("failureLength", 2)
        }
        if (field[5] !== Codec.Kind.Get) return this.fail(`response of kind ${field[5]} to a GET`)
        return this.next("size", SIZE_BYTES)
      }
      case "size": {
        this.size = field.readUInt32BE(0) * 2 ** 32 + field.readUInt32BE(4)
        if (!Number.isSafeInteger(this.size)) return this.fail(`file size ${this.size} out of range`)
        const algorithm = digestOfId(field[8]!)
        if (algorithm === undefined) return this.fail(`unknown digest ${field[8]}`)
        this.algorithm = algorithm
        // A fresh GET's body starts at 0; anything else is not what was asked for.
        const start = field.readUInt32BE(9 + Codec.FILE_VERSION_BYTES) * 2 ** 32 +
          field.readUInt32BE(13 + Codec.FILE_VERSION_BYTES)
        if (start !== 0) return this.fail(`body starting at ${start}`)
        this.received = 0
        return this.next("segmentHead", 4)
      }
      case "segmentHead": {
        const length = field.readUInt32BE(0)
        if (length === 0) return this.next("trailerStatus", 1)
        if (length > Codec.MAX_SEGMENT_BYTES) return this.fail(`body segment of ${length} bytes`)
        if (this.received + length > this.size) return this.fail(`body longer than the announced ${this.size} bytes`)
        this.left = length
        return this.next("body", 0)
      }
      case "trailerStatus": {
        this.status = field[0]!
        if (this.status === Codec.Status.Ok) {
          if (this.received !== this.size) return this.fail(`body ended after ${this.received} of ${this.size} bytes`)
          return this.next("digest", DIGESTS[this.algorithm].bytes)
        }
        if (this.status > Codec.Status.UnsupportedDigest) return this.fail(`unknown trailer status ${this.status}`)
        return this.next("abortLength", 2)
      }
      case "digest": {
        const digest = field.subarray(0, DIGESTS[this.algorithm].bytes)
        this.result = { _tag: "File", size: this.size, algorithm: this.algorithm, digest }
        return
      }
      case "failureLength":
      case "abortLength": {
        const length = field.readUInt16BE(0)
        if (length > Codec.MAX_MESSAGE_BYTES) return this.fail(`error message of ${length} bytes`)
        const part = this.part === "failureLength" ? "failureMessage" : "abortMessage"
        if (length > 0) return this.next(part, length)
        this.part = part
        this.have = 0
        return this.fieldRead()
      }
      case "failureMessage":
      case "abortMessage": {
        const said = this.part === "failureMessage" ? "answered" : "aborted with"
        const message = field.toString("utf8", 0, this.have)
        return this.fail(`${said} ${Codec.statusName(this.status as Codec.Status)} "${message}"`)
      }
      case "body":
        return
    }
  }
}

/**
 * The answers that describe rather than carry files (docs/PROTOCOL.md, sections 6.3 to 6.6): the
 * cache's listing (LIST), the served tree (LS), one file's facts (STAT), and the statistics (STATS).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { ByteReader } from "../ByteReader.js"
import { type Digest, digestOfId, DIGESTS } from "../Digest.js"
import type { ProtocolError } from "../ProtocolError.js"
import { decodeUtf8, encodeUtf8, readU16, readU32, readU64, writeU16, writeU32, writeU64 } from "../wire.js"
import { Kind, malformed, MAX_LISTING_BYTES, responseHead, Status, tooLarge } from "./common.js"
import { type Aborted, readEnding } from "./files.js"
import { FILE_VERSION_BYTES } from "./requests.js"

// LIST

export interface ListingEntry {
  readonly name: string
  readonly size: number
}

/** A listing, cut to the entries that fit in `MAX_LISTING_BYTES`; `total` counts them all. */
export const encodeListing = (entries: ReadonlyArray<ListingEntry>): Uint8Array => {
  const names: Array<Uint8Array> = []
  let length = 8
  for (const entry of entries) {
    const name = encodeUtf8(entry.name)
    if (length + 10 + name.length > MAX_LISTING_BYTES) break
    names.push(name)
    length += 10 + name.length
  }
  const bytes = responseHead(Status.Ok, Kind.List, 4 + length)
  writeU32(bytes, 6, length)
  writeU32(bytes, 10, entries.length)
  writeU32(bytes, 14, names.length)
  let at = 18
  names.forEach((name, i) => {
    writeU16(bytes, at, name.length)
    bytes.set(name, at + 2)
    writeU64(bytes, at + 2 + name.length, entries[i]!.size)
    at += 10 + name.length
  })
  return bytes
}

export const decodeListing = (payload: Uint8Array) =>
  Effect.gen(function*() {
    if (payload.length < 8) return yield* malformed("listing too short")
    const total = readU32(payload, 0)
    const count = readU32(payload, 4)
    const entries: Array<ListingEntry> = []
    let at = 8
    for (let i = 0; i < count; i++) {
      if (at + 2 > payload.length) return yield* malformed("listing entry cut short")
      const nameLength = readU16(payload, at)
      if (at + 10 + nameLength > payload.length) return yield* malformed("listing entry cut short")
      const name = yield* decodeUtf8(payload.subarray(at + 2, at + 2 + nameLength), "listed name")
      const size = readU64(payload, at + 2 + nameLength)
      if (!Number.isSafeInteger(size)) return yield* malformed(`listed size ${size} out of range`)
      entries.push({ name, size })
      at += 10 + nameLength
    }
    if (at !== payload.length) return yield* malformed("bytes after the last listing entry")
    if (total < count) return yield* malformed("listing counts more entries than its total")
    return { entries, total }
  })

// LS

/** One file or directory under the served directory, by its path there. */
export interface TreeEntry {
  readonly path: string
  readonly type: "file" | "directory"
  readonly size: number
  readonly mtimeMs: number
}

const ENTRY_TYPES = { file: 1, directory: 2 } as const
/** The most an LS segment may carry: the server's are far smaller. */
export const MAX_ENTRIES_SEGMENT_BYTES = 1024 * 1024
/** The server gathers entries into segments of about this size. */
export const ENTRIES_SEGMENT_BYTES = 64 * 1024

/** The head of an LS answer; segments of entries follow, then the end marker and an ending. */
export const encodeTreeHead = (): Uint8Array => responseHead(Status.Ok, Kind.Ls, 0)

/** One segment holding `entries`, whole: its length first. */
export const encodeEntries = (entries: ReadonlyArray<TreeEntry>): Uint8Array => {
  const paths = entries.map((entry) => encodeUtf8(entry.path))
  const length = paths.reduce((sum, path) => sum + 19 + path.length, 0)
  const bytes = new Uint8Array(4 + length)
  writeU32(bytes, 0, length)
  let at = 4
  entries.forEach((entry, i) => {
    const path = paths[i]!
    bytes[at] = ENTRY_TYPES[entry.type]
    writeU64(bytes, at + 1, entry.size)
    writeU64(bytes, at + 9, entry.mtimeMs)
    writeU16(bytes, at + 17, path.length)
    bytes.set(path, at + 19)
    at += 19 + path.length
  })
  return bytes
}

/** The end marker and `Ok`: the listing is complete. */
export const encodeTreeEnd = (): Uint8Array => new Uint8Array(5)

const decodeEntries = (segment: Uint8Array) =>
  Effect.gen(function*() {
    const entries: Array<TreeEntry> = []
    for (let at = 0; at < segment.length;) {
      if (at + 19 > segment.length) return yield* malformed("LS entry cut short")
      const code = segment[at]!
      const type = code === ENTRY_TYPES.file ? "file" : code === ENTRY_TYPES.directory ? "directory" : undefined
      if (type === undefined) return yield* malformed(`unknown entry type ${code}`)
      const size = readU64(segment, at + 1)
      const mtimeMs = readU64(segment, at + 9)
      const pathLength = readU16(segment, at + 17)
      if (at + 19 + pathLength > segment.length) return yield* malformed("LS entry cut short")
      if (!Number.isSafeInteger(size) || !Number.isSafeInteger(mtimeMs)) {
        return yield* malformed("LS entry's size or time out of range")
      }
      const path = yield* decodeUtf8(segment.subarray(at + 19, at + 19 + pathLength), "listed path")
      entries.push({ path, type, size, mtimeMs })
      at += 19 + pathLength
    }
    return entries
  })

/**
 * Reads the entries of an LS answer, a segment at a time, handing each batch to `onEntries`;
 * returns how the listing ended.
 */
export const readTree = <E, E2, R>(
  reader: ByteReader<E>,
  onEntries: (entries: ReadonlyArray<TreeEntry>) => Effect.Effect<void, E2, R>
): Effect.Effect<{ readonly _tag: "Complete" } | Aborted, E | E2 | ProtocolError, R> =>
  Effect.gen(function*() {
    while (true) {
      const length = readU32(yield* reader.exactly(4), 0)
      if (length === 0) break
      if (length > MAX_ENTRIES_SEGMENT_BYTES) return yield* tooLarge(`LS segment of ${length} bytes is over the limit`)
      yield* onEntries(yield* decodeEntries(yield* reader.exactly(length)))
    }
    return yield* readEnding(reader, Effect.succeed({ _tag: "Complete" } as const))
  })

// STAT

export interface FileFacts {
  readonly size: number
  readonly mtimeMs: number
  readonly version: Uint8Array
  readonly digest: Digest
  readonly value: Uint8Array
}

export const encodeFileFacts = (facts: FileFacts): Uint8Array => {
  const bytes = responseHead(Status.Ok, Kind.Stat, 17 + FILE_VERSION_BYTES + facts.value.length)
  writeU64(bytes, 6, facts.size)
  writeU64(bytes, 14, facts.mtimeMs)
  bytes.set(facts.version, 22)
  bytes[22 + FILE_VERSION_BYTES] = DIGESTS[facts.digest].id
  bytes.set(facts.value, 23 + FILE_VERSION_BYTES)
  return bytes
}

export const readFileFacts = <E>(reader: ByteReader<E>): Effect.Effect<FileFacts, E | ProtocolError> =>
  Effect.gen(function*() {
    const fields = yield* reader.exactly(17 + FILE_VERSION_BYTES)
    const size = readU64(fields, 0)
    const mtimeMs = readU64(fields, 8)
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(mtimeMs)) {
      return yield* malformed("file size or time out of range")
    }
    const version = fields.slice(16, 16 + FILE_VERSION_BYTES)
    const id = fields[16 + FILE_VERSION_BYTES]!
    const digest = digestOfId(id)
    if (digest === undefined) return yield* malformed(`unknown digest ${id}`)
    const value = (yield* reader.exactly(DIGESTS[digest].bytes)).slice()
    return { size, mtimeMs, version, digest, value }
  })

// STATS

/** Statistics as a JSON object of numbers: names can be added without a new protocol version. */
export const encodeStats = (stats: Readonly<Record<string, number>>): Uint8Array => {
  const payload = encodeUtf8(JSON.stringify(stats))
  const bytes = responseHead(Status.Ok, Kind.Stats, 4 + payload.length)
  writeU32(bytes, 6, payload.length)
  bytes.set(payload, 10)
  return bytes
}

const StatsPayload = Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Number }))

export const decodeStats = (payload: Uint8Array): Effect.Effect<Readonly<Record<string, number>>, ProtocolError> =>
  decodeUtf8(payload, "statistics").pipe(
    Effect.flatMap(Schema.decode(StatsPayload)),
    Effect.mapError((error) =>
      error._tag === "ProtocolError" ? error : malformed("statistics are not a JSON object of numbers")
    )
  )

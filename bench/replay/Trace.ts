/**
 * libCacheSim's `oracleGeneral` binary traces: packed little-endian records of 24 bytes (u32 time,
 * u64 object id, u32 object size, i64 next access). Only the id and the size matter to a replay.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { readFile } from "node:fs/promises"
import { basename } from "node:path"
import type { Workload } from "./Workload.js"

const RECORD_BYTES = 24
const ID_OFFSET = 4
const SIZE_OFFSET = 12

export class TraceError extends Data.TaggedError("TraceError")<{
  readonly reason: "Unreadable" | "Malformed"
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `${
      this.reason === "Unreadable" ? "cannot read" : "not an oracleGeneral trace"
    }: ${this.path} (${this.detail})`
  }
}

/** Decodes a whole trace; object ids become file names (their decimal form). */
export const parseOracleGeneral = (name: string, bytes: Uint8Array): Workload | string => {
  if (bytes.length % RECORD_BYTES !== 0) return `${bytes.length} bytes is not a whole number of 24-byte records`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = bytes.length / RECORD_BYTES
  const requests = new Uint32Array(count)
  const sizes = new Uint32Array(count)
  const indexOf = new Map<bigint, number>()
  const objectNames: Array<string> = []
  for (let i = 0; i < count; i++) {
    const id = view.getBigUint64(i * RECORD_BYTES + ID_OFFSET, true)
    let index = indexOf.get(id)
    if (index === undefined) {
      index = objectNames.length
      indexOf.set(id, index)
      objectNames.push(id.toString())
    }
    requests[i] = index
    sizes[i] = view.getUint32(i * RECORD_BYTES + SIZE_OFFSET, true)
  }
  return { name, objectNames, requests, sizes }
}

export const readOracleGeneral = (path: string): Effect.Effect<Workload, TraceError> =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (cause) => new TraceError({ reason: "Unreadable", path, detail: String(cause) })
  }).pipe(Effect.flatMap((bytes) => {
    const parsed = parseOracleGeneral(basename(path), bytes)
    return typeof parsed === "string"
      ? Effect.fail(new TraceError({ reason: "Malformed", path, detail: parsed }))
      : Effect.succeed(parsed)
  }))

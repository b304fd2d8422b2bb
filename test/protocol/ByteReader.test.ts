/** The buffered reader under the codec: exact reads across chunks, zero-copy partial reads, clean ends. */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import { ProtocolError } from "../../src/protocol/ProtocolError.js"

/** A reader over `chunks` that counts how many of them it has pulled. */
const countingReader = (chunks: ReadonlyArray<Uint8Array>) => {
  let pulled = 0
  const reader = ByteReader.make(Effect.sync(() => {
    if (pulled >= chunks.length) return Option.none()
    return Option.some(chunks[pulled++]!)
  }))
  return { reader, pulled: () => pulled }
}

const truncated = (error: unknown) => {
  expect(error).toBeInstanceOf(ProtocolError)
  expect((error as ProtocolError).reason).toBe("Truncated")
}

describe("ByteReader", () => {
  it.effect("reads exact lengths across chunk boundaries", () =>
    Effect.gen(function*() {
      const reader = ByteReader.fromChunks([Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6)])
      expect(yield* reader.exactly(3)).toEqual(Uint8Array.of(1, 2, 3))
      expect(yield* reader.exactly(1)).toEqual(Uint8Array.of(4))
      expect(yield* reader.exactly(2)).toEqual(Uint8Array.of(5, 6))
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect("reads zero bytes without touching the source, even with nothing buffered", () =>
    Effect.gen(function*() {
      const { pulled, reader } = countingReader([Uint8Array.of(1)])
      expect(yield* reader.exactly(0)).toEqual(new Uint8Array(0))
      expect(pulled()).toBe(0)
      expect(yield* reader.exactly(1)).toEqual(Uint8Array.of(1))
      expect(yield* reader.exactly(0)).toEqual(new Uint8Array(0))
      expect(yield* reader.atEnd).toBe(true)
      expect(yield* reader.exactly(0)).toEqual(new Uint8Array(0))
    }))

  it.effect("upTo hands back what has arrived without copying, never more than asked", () =>
    Effect.gen(function*() {
      const chunk = Uint8Array.of(1, 2, 3, 4, 5)
      const reader = ByteReader.fromChunks([chunk, Uint8Array.of(6)])
      const first = yield* reader.upTo(3)
      expect(first).toEqual(Uint8Array.of(1, 2, 3))
      expect(first.buffer).toBe(chunk.buffer)
      expect(yield* reader.upTo(10)).toEqual(Uint8Array.of(4, 5))
      expect(yield* reader.upTo(10)).toEqual(Uint8Array.of(6))
      truncated(yield* Effect.flip(reader.upTo(1)))
    }))

  it.effect("pulls from the source only when asked for more than it holds", () =>
    Effect.gen(function*() {
      const { pulled, reader } = countingReader([Uint8Array.of(1, 2, 3, 4), Uint8Array.of(5)])
      yield* reader.exactly(2)
      expect(pulled()).toBe(1)
      yield* reader.exactly(2)
      expect(pulled()).toBe(1)
      expect(yield* reader.atEnd).toBe(false)
      expect(pulled()).toBe(2)
    }))

  it.effect("skips empty chunks and reports the clean end only when nothing is left", () =>
    Effect.gen(function*() {
      const reader = ByteReader.fromChunks([new Uint8Array(0), Uint8Array.of(7), new Uint8Array(0)])
      expect(yield* reader.atEnd).toBe(false)
      expect(yield* reader.exactly(1)).toEqual(Uint8Array.of(7))
      expect(yield* reader.atEnd).toBe(true)
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect("fails Truncated when the source ends in the middle of an exact read", () =>
    Effect.gen(function*() {
      const reader = ByteReader.fromChunks([Uint8Array.of(1, 2)])
      truncated(yield* Effect.flip(reader.exactly(3)))
      truncated(yield* Effect.flip(ByteReader.fromChunks([]).exactly(1)))
    }))

  it.effect.prop(
    "any chunking and any read sizes give back the same bytes in order",
    {
      bytes: FastCheck.uint8Array({ maxLength: 300 }),
      cuts: FastCheck.array(FastCheck.integer({ min: 0, max: 300 }), { maxLength: 20 }),
      reads: FastCheck.array(
        FastCheck.record({ exact: FastCheck.boolean(), size: FastCheck.integer({ min: 1, max: 40 }) }),
        {
          minLength: 1,
          maxLength: 20
        }
      )
    },
    ({ bytes, cuts, reads }) =>
      Effect.gen(function*() {
        const points = [...new Set([0, ...cuts.filter((cut) => cut <= bytes.length), bytes.length])].sort((a, b) =>
          a - b
        )
        const chunks = points.slice(1).map((end, i) => bytes.slice(points[i], end))
        const reader = ByteReader.fromChunks(chunks)
        const out: Array<number> = []
        for (let i = 0; out.length < bytes.length; i++) {
          const { exact, size } = reads[i % reads.length]!
          const want = Math.min(size, bytes.length - out.length)
          const piece = exact ? yield* reader.exactly(want) : yield* reader.upTo(size)
          expect(piece.length).toBeGreaterThan(0)
          expect(piece.length).toBeLessThanOrEqual(size)
          if (exact) expect(piece.length).toBe(want)
          out.push(...piece)
        }
        expect(Uint8Array.from(out)).toEqual(bytes)
        expect(yield* reader.atEnd).toBe(true)
      })
  )
})

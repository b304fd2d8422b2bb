import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as TestClock from "effect/TestClock"
import * as Progress from "../../src/programs/client/Progress.js"

const KiB = 1024
const MiB = 1024 * KiB

describe("Progress.render", () => {
  // Half of 1 MiB in 2 seconds.
  const numbers = " 50% [############------------] 512 KiB/1 MiB  256 KiB/s  ETA 00:02"
  const longLabel = `${"very/long/directory/".repeat(20)}file.bin`

  it("shows the percentage, bar, sizes, rate and time left", () => {
    expect(Progress.render("file.bin", 0, 512 * KiB, 1 * MiB, 2, 200)).toBe(`file.bin  ${numbers}`)
    expect(Progress.render("big.iso", 0, 1 * MiB, 10 * 1024 * MiB, 1, 200)).toContain("1 MiB/s  ETA 2:50:39")
    expect(Progress.render("slow", 0, 999, 1000, 1, 200)).toContain(" 99% [")
  })

  it("shows an unknown time left before anything has arrived, and 100% for an empty file", () => {
    expect(Progress.render("a", 0, 0, 1000, 0, 200)).toContain(
      "  0% [------------------------] 0 B/1000 B  0 B/s  ETA --:--"
    )
    expect(Progress.render("empty", 0, 0, 0, 0, 200)).toContain("100% [########################]")
  })

  it("cuts a long label from the left to fit the terminal, keeping the end of the name", () => {
    const line = Progress.render(longLabel, 0, 512 * KiB, 1 * MiB, 2, 80)
    expect(line.length).toBeLessThanOrEqual(79)
    expect(line).toMatch(/^…\S*file\.bin  /)
  })

  it("keeps every number whole when it cuts the label", () => {
    expect(Progress.render(longLabel, 0, 512 * KiB, 1 * MiB, 2, 80)).toBe(`…/file.bin  ${numbers}`)
  })

  it.prop("is never longer than the terminal's width minus one", {
    label: FastCheck.fullUnicodeString({ maxLength: 300 }),
    total: FastCheck.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    part: FastCheck.double({ min: 0, max: 1, noNaN: true }),
    elapsed: FastCheck.double({ min: 0, max: 1e6, noNaN: true }),
    columns: FastCheck.integer({ min: 1, max: 300 })
  }, ({ columns, elapsed, label, part, total }) => {
    const line = Progress.render(label, 0, Math.floor(total * part), total, elapsed, columns)
    expect(line.length).toBeLessThanOrEqual(columns - 1)
  })

  // A label of astral characters (emoji...) cut at an odd offset would start with half a surrogate pair.
  it("cuts a label between characters, never inside one", () => {
    const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
    for (const columns of [80, 81]) {
      expect(Progress.render("📄".repeat(60), 0, 10, 100, 1, columns)).not.toMatch(loneSurrogate)
    }
  })
})

describe("Progress.make", () => {
  const terminal = (isTTY: boolean) => {
    const written: Array<string> = []
    const stream = { isTTY, columns: 100, write: (text: string) => written.push(text) > 0 }
    return { written, stream: stream as unknown as NodeJS.WriteStream }
  }

  const showProgress = (enabled: boolean, stream: NodeJS.WriteStream) =>
    Effect.scoped(Effect.gen(function*() {
      const progress = yield* Progress.make({ label: "file.bin", total: 4 * MiB, enabled, stream })
      progress.advance(MiB)
      yield* TestClock.adjust("1 second")
      progress.advance(MiB)
      yield* TestClock.adjust("1 second")
    }))

  it.effect("redraws one line on a terminal as bytes arrive, and clears it at the end", () =>
    Effect.gen(function*() {
      const { stream, written } = terminal(true)
      yield* showProgress(true, stream)
      expect(written.some((line) => line.startsWith("\rfile.bin   25% [") && line.includes("1 MiB/s"))).toBe(true)
      expect(written.some((line) => line.includes(" 50% [") && line.includes("2 MiB/4 MiB"))).toBe(true)
      expect(written.at(-1)).toBe("\r\x1b[K")
    }))

  it.effect("draws nothing when the stream is not a terminal, or when turned off", () =>
    Effect.gen(function*() {
      const notTerminal = terminal(false)
      yield* showProgress(true, notTerminal.stream)
      const quiet = terminal(true)
      yield* showProgress(false, quiet.stream)
      expect([...notTerminal.written, ...quiet.written]).toEqual([])
    }))
})

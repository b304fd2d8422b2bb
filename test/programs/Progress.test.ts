import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Progress from "../../src/programs/client/Progress.js"

const KiB = 1024
const MiB = 1024 * KiB

describe("Progress.render", () => {
  // Half of 1 MiB in 2 seconds.
  const numbers = " 50% [############------------] 512 KiB/1 MiB  256 KiB/s  ETA 00:02"
  const longLabel = `${"very/long/directory/".repeat(20)}file.bin`

  it("shows the percentage, bar, sizes, rate and time left", () => {
    expect(Progress.render("file.bin", 512 * KiB, 1 * MiB, 2, 200)).toBe(`file.bin  ${numbers}`)
    expect(Progress.render("big.iso", 1 * MiB, 10 * 1024 * MiB, 1, 200)).toContain("1 MiB/s  ETA 2:50:39")
    expect(Progress.render("slow", 999, 1000, 1, 200)).toContain(" 99% [")
  })

  it("shows an unknown time left before anything has arrived, and 100% for an empty file", () => {
    expect(Progress.render("a", 0, 1000, 0, 200)).toContain(
      "  0% [------------------------] 0 B/1000 B  0 B/s  ETA --:--"
    )
    expect(Progress.render("empty", 0, 0, 0, 200)).toContain("100% [########################]")
  })

  it("cuts a long label from the left to fit the terminal, keeping the end of the name", () => {
    const line = Progress.render(longLabel, 512 * KiB, 1 * MiB, 2, 80)
    expect(line.length).toBeLessThanOrEqual(79)
    expect(line).toMatch(/^…\S*file\.bin  /)
  })

  it("keeps every number whole when it cuts the label", () => {
    expect(Progress.render(longLabel, 512 * KiB, 1 * MiB, 2, 80)).toBe(`…/file.bin  ${numbers}`)
  })

  it.prop("is never longer than the terminal's width minus one", {
    label: FastCheck.fullUnicodeString({ maxLength: 300 }),
    total: FastCheck.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    part: FastCheck.double({ min: 0, max: 1, noNaN: true }),
    elapsed: FastCheck.double({ min: 0, max: 1e6, noNaN: true }),
    columns: FastCheck.integer({ min: 1, max: 300 })
  }, ({ columns, elapsed, label, part, total }) => {
    const line = Progress.render(label, Math.floor(total * part), total, elapsed, columns)
    expect(line.length).toBeLessThanOrEqual(columns - 1)
  })

  // A label of astral characters (emoji...) cut at an odd offset would start with half a surrogate pair.
  it("cuts a label between characters, never inside one", () => {
    const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
    for (const columns of [80, 81]) {
      expect(Progress.render("📄".repeat(60), 10, 100, 1, columns)).not.toMatch(loneSurrogate)
    }
  })
})

/**
 * A one-line progress display for a download (bytes, percentage, rate, time left), redrawn a few
 * times a second on stderr, and cleared when the download ends.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { formatBytes } from "../../format/ByteSize.js"

export interface Progress {
  readonly advance: (bytes: number) => void
}

const BAR_WIDTH = 24
const REDRAW = "200 millis"

const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "--:--"
  const s = Math.round(seconds)
  const hours = Math.floor(s / 3600)
  const minutes = String(Math.floor((s % 3600) / 60)).padStart(2, "0")
  const rest = String(s % 60).padStart(2, "0")
  return hours > 0 ? `${hours}:${minutes}:${rest}` : `${minutes}:${rest}`
}

/** The end of `label` in at most `room` columns, cut between characters, never inside one. */
const keepEnd = (label: string, room: number): string => {
  if (label.length <= room) return label
  let kept = ""
  for (const char of Array.from(label).reverse()) {
    if (kept.length + char.length > room - 1) break
    kept = char + kept
  }
  return room > 1 ? `…${kept}` : ""
}

/** The line for `initial + done` bytes of `total`, `done` of them in `elapsedSeconds`. */
export const render = (
  label: string,
  initial: number,
  done: number,
  total: number,
  elapsedSeconds: number,
  columns: number
) => {
  const fraction = total === 0 ? 1 : (initial + done) / total
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0
  const eta = rate > 0 ? (total - initial - done) / rate : Infinity
  const filled = Math.round(fraction * BAR_WIDTH)
  const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled)
  const numbers = `${String(Math.floor(fraction * 100)).padStart(3)}% [${bar}] ${formatBytes(initial + done)}/${
    formatBytes(total)
  }  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`
  // The last column stays free: writing into it makes some terminals wrap, which breaks the redraw.
  const width = columns - 1
  const room = width - numbers.length - 2
  return `${keepEnd(label, room)}  ${numbers}`.slice(0, width)
}

const silent: Progress = { advance: () => {} }

/**
 * A progress display on `stream` while the current scope is open; a silent one when the stream
 * is not a terminal or `enabled` is false.
 */
export const make = (options: {
  /** What is downloading; a function when it changes as it goes (files done of a directory). */
  readonly label: string | (() => string)
  /** Bytes in all; a function when more become known as it goes. */
  readonly total: number | (() => number)
  /** Bytes done before this display began (a resumed download): not counted in the rate. */
  readonly initial?: number
  readonly enabled: boolean
  readonly stream?: NodeJS.WriteStream
}) =>
  Effect.gen(function*() {
    const stream = options.stream ?? process.stderr
    if (!options.enabled || !stream.isTTY) return silent
    const started = yield* Clock.currentTimeMillis
    const initial = options.initial ?? 0
    let done = 0
    const draw = Effect.map(Clock.currentTimeMillis, (now) => {
      const label = typeof options.label === "function" ? options.label() : options.label
      const total = typeof options.total === "function" ? options.total() : options.total
      const line = render(label, initial, done, total, (now - started) / 1000, stream.columns || 80)
      stream.write(`\r${line}\x1b[K`)
    })
    yield* Effect.forkScoped(Effect.repeat(draw, Schedule.spaced(REDRAW)))
    yield* Effect.addFinalizer(() => Effect.sync(() => stream.write("\r\x1b[K")))
    return { advance: (bytes: number) => void (done += bytes) } satisfies Progress
  })

/**
 * The server's log output, always on stderr: one readable line per event by default, or one JSON
 * object per line for machines.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import { fieldsOf } from "../format/LogLine.js"
import { escapeUnsafe, printable } from "../format/Printable.js"

export const LOG_FORMATS = ["text", "json"] as const
export type LogFormat = typeof LOG_FORMATS[number]

const quoted = (value: unknown): string => {
  // Most fields of a request's line are numbers: nothing in them to quote or escape.
  if (typeof value === "number") return String(value)
  const text = printable(typeof value === "string" ? value : JSON.stringify(value))
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)
}

/** `2026-11-25T10:00:00.000Z INFO  GET image.jpg peer=127.0.0.1:51234 status=OK bytes=79738 ms=2` */
const textLogger = Logger.make(({ annotations, cause, date, logLevel, message }) => {
  const { fields, text } = fieldsOf(message)
  let line = `${date.toISOString()} ${logLevel.label.padEnd(5)} ${printable(text)}`
  for (const [key, value] of fields) line += ` ${key}=${quoted(value)}`
  if (HashMap.size(annotations) > 0) {
    for (const [key, value] of HashMap.toEntries(annotations)) line += ` ${key}=${quoted(value)}`
  }
  if (!Cause.isEmpty(cause)) line += `\n${Cause.pretty(cause, { renderErrorCause: true })}`
  return line
})

/**
 * Effect's JSON log line, with nothing a terminal would act on left raw; a LogLine's fields among the
 * annotations, its text the message.
 */
const jsonLogger = Logger.map(
  Logger.mapInputOptions(Logger.jsonLogger, (options) => {
    const { fields, text } = fieldsOf(options.message)
    if (fields.length === 0) return options
    let annotations = options.annotations
    for (const [key, value] of fields) annotations = HashMap.set(annotations, key, value)
    return { ...options, message: text, annotations }
  }),
  escapeUnsafe
)

// Lines are gathered and written together, once per window: a line a request, each its own write to
// stderr, was about a twentieth of the server's time on small files.
const WINDOW = "20 millis"

const writeLines = (lines: ReadonlyArray<string>) =>
  Effect.sync(() => void process.stderr.write(lines.join("\n") + "\n"))

/** The server's logger, until the scope closes, when what is left is written. */
export const layer = (format: LogFormat) =>
  Logger.replaceScoped(
    Logger.defaultLogger,
    Logger.batched(format === "json" ? jsonLogger : textLogger, WINDOW, writeLines)
  )

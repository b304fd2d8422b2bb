/** The soak's command-line options: how long, how many connections, which port. */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** `30s`, `10m`, `1h`, `500ms`, or anything Effect reads as a duration ("2 minutes"). */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(text.trim())
  if (match === null) return Duration.decodeUnknown(text)
  const value = Number(match[1])
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"]
  return Option.some(Duration.millis(value * unit))
}

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

export const duration = Options.text("duration").pipe(
  Options.withDefault("60s"),
  Options.withDescription("How long the workers run: 30s, 10m, 1h."),
  Options.mapEffect((text) =>
    Option.match(parseDuration(text), {
      onNone: () => invalid(`--duration: "${text}" is not a duration, e.g. 30s or 10m`),
      onSome: (value) => Duration.greaterThan(value, Duration.zero) ? Effect.succeed(value) : invalid("--duration: 0")
    })
  )
)
export const connections = Options.integer("connections").pipe(
  Options.withDefault(50),
  Options.withDescription("Concurrent workers, each with a connection of its own."),
  Options.mapEffect((n) => n >= 1 ? Effect.succeed(n) : invalid("--connections must be at least 1"))
)
export const port = Options.integer("port").pipe(
  Options.withDefault(0),
  Options.withDescription("The port the server listens on (0: one the system picks)."),
  Options.mapEffect((n) => n >= 0 && n <= 65535 ? Effect.succeed(n) : invalid("--port must be 0 to 65535"))
)

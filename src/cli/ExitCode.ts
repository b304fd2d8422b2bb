/**
 * How a command ends: one line on stderr and an exit code chosen by the command, never a stack
 * trace. The runtime's teardown turns the final Exit into the process's exit code.
 */
import type { Teardown } from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

/** Ends the command with `code`, after printing `message` as `program: message` on stderr. */
export const exitWith = (program: string, code: number, message: string): Effect.Effect<never, ExitCode> =>
  Effect.zipRight(Console.error(`${program}: ${message}`), Effect.fail(new ExitCode({ code })))

/**
 * A teardown for `runMain`: an `ExitCode` failure exits with its code, an interruption (a signal)
 * with `interrupted`, anything else with 1.
 */
export const teardown = (interrupted: number): Teardown => (exit, onExit) => {
  if (Exit.isSuccess(exit)) return onExit(0)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && failure.value instanceof ExitCode) return onExit(failure.value.code)
  onExit(Cause.isInterruptedOnly(exit.cause) ? interrupted : 1)
}

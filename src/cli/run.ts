/**
 * Running a command as a process: exit with the code the command chose, 2 with a one-line message
 * for invalid arguments, 1 with a one-line message for anything unexpected.
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import packageJson from "../../package.json" with { type: "json" }
import { ExitCode, exitWith, teardown } from "./ExitCode.js"
import { colourWanted, describe, parserConsole } from "./parserOutput.js"

const USAGE = 2

export const runCommand = <Name extends string, A>(
  command: Command.Command<Name, CliApp.CliApp.Environment, ExitCode, A>,
  options: {
    readonly name: Name
    /** The exit code after SIGINT/SIGTERM: 0 for a server shutting down, 130 for an interrupted client. */
    readonly interrupted: number
    /**
     * An environment variable for the minimum log level. It is read here, around the command, so
     * that the built-in `--log-level` option, applied inside, wins over it.
     */
    readonly logLevelVariable?: string
  }
): void => {
  const { name } = options
  const minimumLevel = options.logLevelVariable === undefined
    ? Effect.succeed(LogLevel.Info)
    : Config.logLevel(options.logLevelVariable).pipe(Config.withDefault(LogLevel.Info))
  // @effect/cli prints to a console of its own (see parserOutput.ts); the handler prints to the real one.
  const parseAndRun = Effect.gen(function*() {
    const real = yield* Effect.console
    const parserOutput = parserConsole(real, yield* colourWanted)
    const handled = Command.transformHandler(command, Console.withConsole(real))
    return yield* Console.withConsole(
      Command.run(handled, { name, version: packageJson.version })(process.argv),
      parserOutput
    )
  })
  parseAndRun.pipe(
    (run) => Effect.flatMap(minimumLevel, (level) => Logger.withMinimumLogLevel(run, level)),
    Effect.catchIf(
      ValidationError.isValidationError,
      (error) => exitWith(name, USAGE, `${describe(error)}: see ${name} --help`)
    ),
    Effect.catchTag("ConfigError", (error) => exitWith(name, USAGE, error.message)),
    Effect.catchAllDefect((defect) => exitWith(name, 1, `internal error: ${String(defect)}`)),
    // Only what @effect/cli needs: the whole NodeContext would bundle, and load, far more.
    Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: teardown(options.interrupted)
    })
  )
}

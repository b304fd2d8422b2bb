/**
 * Programs the end-to-end tests run that no one here wrote (curl, wget, aria2c), found on PATH. A
 * missing one fails its test with the Debian package that provides it, as .ci/run installs it.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"

export interface ToolRun {
  readonly code: number | null
  readonly stdout: Buffer
  readonly stderr: string
}

/** Which Debian package gives each command, for the failure that says how to get it. */
export const PACKAGES: Readonly<Record<string, string>> = {
  curl: "curl",
  wget: "wget",
  aria2c: "aria2",
  chromium: "chromium"
}

export const missingTool = (command: string): string =>
  `${command} not found: \`apt-get install -y ${PACKAGES[command] ?? command}\` provides it (.ci/run installs it)`

/** Runs `command ARGS` to completion, killed if it takes longer than `bound`; stdout kept as bytes. */
export const runTool = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly bound?: Duration.DurationInput } = {}
): Effect.Effect<ToolRun> => {
  const bound = options.bound ?? "30 seconds"
  return Effect.async<ToolRun>((resume) => {
    const child = spawn(command, args, {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      stdio: ["ignore", "pipe", "pipe"]
    })
    const stdout: Array<Buffer> = []
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on(
      "error",
      (error: NodeJS.ErrnoException) =>
        resume(Effect.dieMessage(error.code === "ENOENT" ? missingTool(command) : error.message))
    )
    child.on("close", (code) => resume(Effect.succeed({ code, stdout: Buffer.concat(stdout), stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(
    Effect.timeoutFail({
      duration: bound,
      onTimeout: () =>
        new Error(`${command} ${args.join(" ")}: not done within ${Duration.format(Duration.decode(bound))}`)
    }),
    Effect.orDieWith((error) => error)
  )
}

/** What the server logged during the soak: lines by level, warnings by message, the first errors. */
import * as Effect from "effect/Effect"
import { createReadStream } from "node:fs"
import * as readline from "node:readline"

export interface LogScan {
  readonly lines: number
  readonly byLevel: ReadonlyMap<string, number>
  readonly warnings: ReadonlyMap<string, number>
  readonly errors: ReadonlyArray<string>
}

/** Counts the server's log lines by level and warnings by message, and keeps the first errors. */
export const scan = (file: string) =>
  Effect.promise(async (): Promise<LogScan> => {
    const byLevel = new Map<string, number>()
    const warnings = new Map<string, number>()
    const errors: Array<string> = []
    let lines = 0
    let inError = false
    for await (const line of readline.createInterface({ input: createReadStream(file, "utf8") })) {
      const match = /^\S+ (\w+)\s+(.*)$/.exec(line)
      if (match === null || !/^\d{4}-/.test(line)) {
        // A continuation of the previous line (a cause's trace).
        if (inError && errors.length > 0 && errors.length <= 5) errors[errors.length - 1] += `\n    ${line}`
        continue
      }
      lines++
      const [, level, rest] = match as unknown as [string, string, string]
      byLevel.set(level, (byLevel.get(level) ?? 0) + 1)
      inError = level === "ERROR" || level === "FATAL"
      if (inError && errors.length < 5) errors.push(line)
      if (level === "WARN") {
        const message = rest.replace(/ \w+=.*$/, "").replace(/\d+/g, "N")
        warnings.set(message, (warnings.get(message) ?? 0) + 1)
      }
    }
    return { lines, byLevel, warnings, errors }
  })

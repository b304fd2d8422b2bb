/**
 * What @effect/cli prints by itself (help, version, completions, argument errors), made fit for a
 * pipe. It renders all of it with ANSI styles and has no setting to turn them off, so the console it
 * writes to is replaced while it parses; the command's handler gets the real one back.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Primitive from "@effect/cli/Primitive"
import type * as ValidationError from "@effect/cli/ValidationError"
import * as Terminal from "@effect/platform/Terminal"
import * as Doc from "@effect/printer/Doc"
import * as Config from "effect/Config"
import type * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { stripVTControlCharacters } from "node:util"

/** A help document as plain text, its styles dropped rather than rendered. */
export const plainText = (doc: HelpDoc.HelpDoc): string =>
  Doc.render(Doc.unAnnotate(HelpDoc.toAnsiDoc(doc)), { style: "pretty" })

/** Colour on standard output only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
export const colourWanted: Effect.Effect<boolean, never, Terminal.Terminal> = Effect.zipWith(
  Effect.flatMap(Terminal.Terminal, (terminal) => terminal.isTTY),
  Config.string("NO_COLOR").pipe(Config.withDefault(""), Effect.orElseSucceed(() => "")),
  (isTTY, noColor) => isTTY && noColor === ""
)

// Every argument's and option's help opens with a paragraph naming its type ("A user-defined piece of
// text.", "An integer."), which says nothing the usage line does not, and no option of Args or
// Options leaves it out. The sentences are taken from @effect/cli itself, so a new wording still
// matches; they are rendered on first use, not at every start-up.
let typeSentences: ReadonlySet<string> | undefined
const isTypeSentence = (line: string): boolean => {
  typeSentences ??= new Set(
    [
      Primitive.getHelp(Primitive.text),
      Primitive.getHelp(Primitive.integer),
      Primitive.getHelp(Primitive.float),
      Primitive.getHelp(Primitive.date),
      Primitive.getHelp(Primitive.boolean(Option.none()))
    ].map((span) => plainText(HelpDoc.p(span)).trim())
  )
  return typeSentences.has(stripVTControlCharacters(line).trim())
}

/** Help without the type sentences, each with the blank line that separated it from the next paragraph. */
const withoutTypeSentences = (text: string): string => {
  const lines = text.split("\n")
  const kept: Array<string> = []
  for (let i = 0; i < lines.length; i++) {
    if (isTypeSentence(lines[i]!)) {
      if (lines[i + 1]?.trim() === "") i++
    } else {
      kept.push(lines[i]!)
    }
  }
  return kept.join("\n")
}

/**
 * The console @effect/cli writes to: standard output without type sentences, and plain unless
 * `colour`; its argument errors dropped, since each also fails the run with the `ValidationError`
 * that `describe` turns into the one line the program prints.
 */
export const parserConsole = (real: Console.Console, colour: boolean): Console.Console => {
  const tidy = (arg: unknown) => {
    if (typeof arg !== "string") return arg
    const text = withoutTypeSentences(arg)
    return colour ? text : stripVTControlCharacters(text)
  }
  return {
    ...real,
    log: (...args) => real.log(...args.map(tidy)),
    error: () => Effect.void,
    unsafe: { ...real.unsafe, log: (...args) => real.unsafe.log(...args.map(tidy)), error: () => {} }
  }
}

/** An argument error as one line, lower-case first as the rest of the program's messages are. */
export const describe = (error: ValidationError.ValidationError): string => {
  const text = plainText(error.error).split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ")
  return /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text
}

/**
 * A log message that carries its own fields, for the one line logged per request:
 * `Effect.logInfo(new LogLine("GET a.txt", { status: "Ok", bytes: 10 }))`. The server's loggers show
 * the fields exactly as they show annotations (text: `key=value` after the message; JSON: inside
 * `annotations`), and any other logger sees `GET a.txt status=Ok bytes=10` as its text.
 *
 * Annotating the fiber instead (`Effect.annotateLogs`) updates a persistent map per field and compares
 * two of them to change the fiber's context and change it back: measured, about 20 µs a request, a
 * tenth of a cached hit's whole cost.
 */
export class LogLine {
  constructor(readonly text: string, readonly fields: Readonly<Record<string, unknown>>) {}

  toString(): string {
    let line = this.text
    for (const [key, value] of Object.entries(this.fields)) if (value !== undefined) line += ` ${key}=${String(value)}`
    return line
  }
}

/** The fields of a message logged (a LogLine's), and its text; `undefined` fields are left out. */
export const fieldsOf = (message: unknown): { readonly text: string; readonly fields: Array<[string, unknown]> } => {
  const messages = Array.isArray(message) ? message : [message]
  const fields: Array<[string, unknown]> = []
  const texts: Array<string> = []
  for (const part of messages) {
    if (part instanceof LogLine) {
      texts.push(part.text)
      for (const entry of Object.entries(part.fields)) if (entry[1] !== undefined) fields.push(entry)
    } else texts.push(String(part))
  }
  return { text: texts.join(" "), fields }
}

/** Text from the network made safe to show: control characters and escapes never reach a terminal raw. */

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidi overrides that can
// rearrange what a terminal shows.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
// What JSON.stringify leaves raw of the above: it escapes C0 itself.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

export const printable = (text: string): string =>
  text.replace(UNSAFE, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`)

/** Escapes, in JSON text, what JSON.stringify leaves raw: the same value, safe on a terminal. */
export const escapeUnsafe = (json: string): string =>
  json.replace(UNSAFE_IN_JSON, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** JSON with every unsafe character escaped as `\uXXXX`. */
export const printableJson = (value: unknown): string => escapeUnsafe(JSON.stringify(value))

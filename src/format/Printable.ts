/** Text from the network made safe to show: control characters and escapes never reach a terminal raw. */

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidi overrides that can
// rearrange what a terminal shows.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

export const printable = (text: string): string =>
  text.replace(UNSAFE, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`)

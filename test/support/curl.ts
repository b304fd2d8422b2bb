/**
 * curl, as the end-to-end tests run it against the HTTP door: what it wrote out after a transfer,
 * and the header fields of a response it dumped.
 */
import { runTool } from "./tools.js"

// `-q` first: no ~/.curlrc; never a proxy, whatever the environment says.
export const curl = (args: ReadonlyArray<string>) =>
  runTool("curl", ["-q", "--silent", "--show-error", "--noproxy", "*", ...args])

/** What `-w` prints after a transfer, on stdout with the body sent elsewhere. */
export const WRITE_OUT = "%{http_code} %{size_download}"

/** The status and the body's size, from what `-w WRITE_OUT` printed. */
export const written = (stdout: Buffer) => {
  const [status, size] = stdout.toString().split(" ")
  return { status: Number(status), size: Number(size) }
}

/** The header fields of the last response in a `-D`/`-I` dump, names lowercased. */
export const headerFields = (dump: string): Map<string, string> => {
  const last = dump.trimEnd().split(/\r\n\r\n/).at(-1)!
  return new Map(
    last.split("\r\n").slice(1).map((line) => {
      const colon = line.indexOf(":")
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const
    })
  )
}

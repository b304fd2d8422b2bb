/**
 * Every hostile name, sent verbatim by `curl --path-as-is` to the built server's HTTP door: each
 * answered 404 with exactly the status line, headers and body a missing file gets, and the server
 * serving the next request as before.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { curl, headerFields, WRITE_OUT, written } from "../support/curl.js"
import { sha256File, startHttpServer, tempDir, writeRandomFile } from "./harness.js"

/** Names that must never reach outside the served directory, nor tell anything: each as curl sends it. */
const HOSTILE = [
  "/%2e%2e/%2e%2e/etc/passwd",
  "/%2e%2e/small.bin",
  "/..%2f..%2fetc%2fpasswd",
  "/sub%20dir%2fbig.bin",
  "/small.bin%00",
  "/small.bin%00.txt",
  "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
  "/sub%20dir/%c0%ae%c0%ae/small.bin",
  "/sub%20dir%5cbig.bin",
  "/..%5csmall.bin",
  "//small.bin",
  "/sub%20dir//big.bin",
  "/%zz",
  "/small%zz.bin",
  "/%",
  // Dot segments as they are (--path-as-is keeps curl from resolving them), and encoded.
  "/../small.bin",
  "/sub%20dir/../small.bin",
  "/./small.bin",
  "/%2e/small.bin",
  "/sub%20dir/%2e%2e/small.bin",
  // A three-byte overlong ".", and the fullwidth full stop that NFKC folds to one.
  "/%e0%80%ae%e0%80%ae/small.bin",
  "/%ef%bc%8e%ef%bc%8e/small.bin"
]

/** A response's status line, headers (without `Date`, which moves) and body, as curl saw them. */
const answerOf = (dump: string, body: Buffer) => {
  const [statusLine = ""] = dump.split("\r\n")
  const fields = [...headerFields(dump)].filter(([name]) => name !== "date")
  return { statusLine, fields, body: body.toString("latin1") }
}

describe("hostile names through curl --path-as-is", () => {
  it.scopedLive("each gets 404 with exactly a missing file's headers and body, and the server keeps serving", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const small = yield* writeRandomFile(path.join(dir, "small.bin"), 1000)
      yield* writeRandomFile(path.join(dir, "sub dir", "big.bin"), 2000)
      const { url } = yield* startHttpServer(dir)
      const fetch = (target: string) =>
        Effect.map(curl(["--path-as-is", "-D", "-", "-o", "-", `${url}${target}`]), (ran) => {
          expect(ran.code, `${target}: ${ran.stderr}`).toBe(0)
          const split = ran.stdout.indexOf("\r\n\r\n") + 4
          return answerOf(ran.stdout.subarray(0, split).toString("latin1"), ran.stdout.subarray(split))
        })

      const missing = yield* fetch("/missing.bin")
      expect(missing.statusLine).toBe("HTTP/1.1 404 Not Found")
      for (const target of HOSTILE) expect(yield* fetch(target), target).toEqual(missing)

      const dest = path.join(yield* tempDir(), "small.bin")
      const after = yield* curl(["-o", dest, "-w", WRITE_OUT, `${url}/small.bin`])
      expect(written(after.stdout)).toEqual({ status: 200, size: 1000 })
      expect(yield* sha256File(dest)).toBe(small)
    }))
})

/**
 * The built server's HTTP door in a real headless Chromium (Debian's, through playwright-core): the
 * root listing as a page with a title and links named by the files, a click into a folder, and a
 * click that downloads a file identical to its source.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import * as Browser from "../support/browser.js"
import { bounded, sha256File, startHttpServer, tempDir, writeRandomFile } from "./harness.js"

const promise = <A>(what: string, run: () => Promise<A>) => Effect.promise(run).pipe(bounded("30 seconds", what))

describe("a browser", () => {
  it.scopedLive("opens the root listing, follows a link into a folder, and downloads a file by clicking it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "top.bin"), 4096)
      yield* writeRandomFile(path.join(dir, "docs", "notes.bin"), 1000)
      const report = yield* writeRandomFile(path.join(dir, "docs", "report 2026.bin"), 300_000)
      // Names a URL must escape (#, %, ?), and one HTML must.
      const awkward = yield* writeRandomFile(path.join(dir, "docs", "a#b%c?d.bin"), 777)
      yield* writeRandomFile(path.join(dir, "docs", "q'<x>&\".bin"), 333)
      yield* writeRandomFile(path.join(dir, "docs", "ünï €.bin"), 555)
      const { url } = yield* startHttpServer(dir)
      const page = yield* Browser.newPage

      const root = yield* promise("opening the root listing", () => page.goto(`${url}/`))
      expect(root?.status()).toBe(200)
      expect(yield* promise("the title", () => page.title())).toBe("Index of /")
      expect(yield* Browser.linkNames(page)).toEqual(["docs/", "top.bin"])

      yield* promise("following the folder's link", () =>
        Promise.all([
          page.waitForURL(`${url}/docs/`),
          page.getByRole("link", { name: "docs/", exact: true }).click()
        ]))
      expect(yield* promise("the folder's title", () => page.title())).toBe("Index of /docs/")
      expect(yield* Browser.linkNames(page)).toEqual([
        "../",
        "a#b%c?d.bin",
        "notes.bin",
        "q'<x>&\".bin",
        "report 2026.bin",
        "ünï €.bin"
      ])

      const saved = yield* tempDir()
      const downloadByClick = (name: string) =>
        Effect.gen(function*() {
          const download = yield* promise(`downloading ${name} by a click`, () =>
            Promise.all([
              page.waitForEvent("download"),
              page.getByRole("link", { name, exact: true }).click()
            ]).then(([download]) => download))
          const file = path.join(saved, encodeURIComponent(name))
          yield* promise(`saving ${name}`, () => download.saveAs(file))
          return { download, sha256: yield* sha256File(file) }
        })

      const first = yield* downloadByClick("report 2026.bin")
      expect(first.download.url()).toBe(`${url}/docs/report%202026.bin`)
      expect(first.download.suggestedFilename()).toBe("report 2026.bin")
      expect(first.sha256).toBe(report)
      expect((yield* downloadByClick("a#b%c?d.bin")).sha256).toBe(awkward)
    }))
})

/**
 * A real headless Chromium for the end-to-end tests: Debian's `chromium`, driven by playwright-core,
 * closed with the scope. A missing one fails the test with the package that provides it.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { accessSync, constants } from "node:fs"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { missingTool } from "./tools.js"

/** `chromium` on PATH, as Debian installs it (/usr/bin/chromium). */
const executable = (): string | undefined =>
  (process.env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== "").map((dir) => path.join(dir, "chromium"))
    .find((file) => {
      try {
        accessSync(file, constants.X_OK)
        return true
      } catch {
        return false
      }
    })

/** A headless Chromium for as long as the scope lasts. */
export const launch: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.suspend(() => {
    const executablePath = executable()
    return executablePath === undefined
      ? Effect.dieMessage(missingTool("chromium"))
      // No sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
      : Effect.promise(() => chromium.launch({ executablePath, args: ["--no-sandbox"] }))
  }),
  (browser) => Effect.promise(() => browser.close())
)

/** A fresh page in its own context (downloads accepted), for as long as the scope lasts. */
export const newPage: Effect.Effect<Page, never, Scope.Scope> = Effect.flatMap(
  launch,
  (browser) =>
    Effect.acquireRelease(
      Effect.promise(() => browser.newContext({ acceptDownloads: true })),
      (context) => Effect.promise(() => context.close())
    )
).pipe(Effect.flatMap((context) => Effect.promise(() => context.newPage())))

/** The accessible names of the page's links, in order, as the accessibility tree gives them. */
export const linkNames = (page: Page): Effect.Effect<Array<string>> =>
  Effect.map(
    Effect.promise(() => page.locator("body").ariaSnapshot()),
    (snapshot) => [...snapshot.matchAll(/^\s*- link "((?:[^"\\]|\\.)*)"/gm)].map((match) => JSON.parse(`"${match[1]}"`))
  )

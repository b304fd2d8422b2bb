/**
 * Downloads by a whole process, as a user runs them: the ferry client command or curl, timed from
 * spawn to exit, the file it left checked (its size always, its digest when asked) and deleted.
 */
import * as Effect from "effect/Effect"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { type CpuUse, measuringCpu, timedOk } from "./Processes.js"
import { CLIENT_BIN, digestOf, ensure, HOST, type SourceFile } from "./Workspace.js"

/** A command that downloads `file` to `saved`. */
export interface Downloader {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly saved: string
}

/** `client HOST PORT NAME DEST -q`: the ferry client saving `file` into the directory `dest`. */
export const ferryClient = (port: number, file: SourceFile, dest: string): Downloader => ({
  command: process.execPath,
  args: [CLIENT_BIN, HOST, String(port), file.name, dest, "-q"],
  saved: path.join(dest, path.basename(file.name))
})

/** `curl -s -f -o DEST/NAME URL/NAME`: curl saving `file` from an HTTP server into the directory `dest`. */
export const curl = (url: string, file: SourceFile, dest: string): Downloader => {
  const saved = path.join(dest, path.basename(file.name))
  return { command: "curl", args: ["-s", "-f", "-o", saved, `${url}/${file.name}`], saved }
}

export interface Downloaded {
  /** From spawn to exit. */
  readonly millis: number
  /** The CPU the server (`serverPid`) used meanwhile. */
  readonly cpu: CpuUse
}

/**
 * Runs one download, timed, while measuring the server's CPU; fails unless it saved the file whole
 * (and, with `check`, the source's very bytes). The saved file is deleted afterwards, untimed.
 */
export const timedDownload = (downloader: Downloader, file: SourceFile, serverPid: number, check: boolean) =>
  Effect.gen(function*() {
    const name = path.basename(downloader.command)
    const [{ millis }, cpu] = yield* measuringCpu(serverPid, timedOk(downloader.command, downloader.args))
    const { size } = yield* Effect.promise(() => fsp.stat(downloader.saved))
    yield* ensure(size === file.size, `${name} saved ${size} bytes, not ${file.size}`)
    if (check) {
      const digest = yield* digestOf(downloader.saved)
      yield* ensure(digest.equals(file.digest), `${name} saved other bytes than the source's`)
    }
    yield* Effect.promise(() => fsp.rm(downloader.saved))
    return { millis, cpu } satisfies Downloaded
  })

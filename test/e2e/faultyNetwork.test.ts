/**
 * Downloads over a faulty network, with the built binaries: the server runs in a network namespace
 * of its own, and nftables drops packets between it and the client (this kernel has no netem). With
 * 2% of packets dropped at random, and with the link black-holed for 20 seconds mid-transfer, the
 * download completes identical, through timeouts, retries and resume; afterwards the server holds
 * nothing for it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { ChildProcess } from "node:child_process"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Netns from "../support/netns.js"
import { bounded, MiB, runClient, SERVER_BIN, sha256File, spawnClient, tempDir, writeRandomFile } from "./harness.js"

const SIZE = 256 * MiB
const PORT = 9098

/** Resolves once `child` has written `text` on stderr. */
const saidOnStderr = (child: ChildProcess, text: string): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let stderr = ""
    const onData = (chunk: string) => {
      stderr += chunk
      if (stderr.includes(text)) {
        child.stderr!.off("data", onData)
        resume(Effect.void)
      }
    }
    child.stderr!.setEncoding("utf8").on("data", onData)
    return Effect.sync(() => child.stderr!.off("data", onData))
  })

/** A served directory holding `big.bin`, and the server inside a fresh namespace. */
const faultyWorld = Effect.gen(function*() {
  const netns = yield* Netns.make
  const dir = yield* tempDir("ferry-e2e-faulty-src-")
  const dest = yield* tempDir("ferry-e2e-faulty-dst-")
  const sha256 = yield* writeRandomFile(path.join(dir, "big.bin"), SIZE)
  // A client that takes nothing for 5 s is dropped, so the black-holed connection is let go.
  const server = yield* netns.spawn(process.execPath, [
    SERVER_BIN,
    netns.address,
    String(PORT),
    dir,
    "--stall-timeout",
    "5 seconds"
  ])
  yield* saidOnStderr(server, "listening on").pipe(bounded("15 seconds", "the server in the namespace to listen"))
  return { netns, dest, sha256, server }
})

const stats = (address: string) =>
  Effect.map(runClient([address, PORT, "stats", "--json"]), (ran) => JSON.parse(ran.stdout) as Record<string, number>)

/** Polls the server's statistics until it holds nothing: no pin, lock, open file or other connection. */
const holdsNothing = (address: string) =>
  stats(address).pipe(
    Effect.repeat({
      schedule: Schedule.spaced("200 millis"),
      until: (s) => s.pinnedEntries === 0 && s.locksHeld === 0 && s.openFiles === 0 && s.activeConnections === 1
    }),
    bounded("30 seconds", "the server to let go of everything")
  )

const sizeOf = (file: string) => Effect.promise(() => fsp.stat(file).then((s) => s.size, () => 0))

describe.skipIf(Netns.unavailable !== undefined)("a faulty network", () => {
  it.scopedLive("2% of packets dropped at random: the download completes identical", () =>
    Effect.gen(function*() {
      const { dest, netns, sha256 } = yield* faultyWorld
      yield* netns.dropRandom(2)
      const ran = yield* runClient([netns.address, PORT, "big.bin", dest, "-q", "--timeout", "5 seconds"]).pipe(
        bounded("170 seconds", "the download through a lossy link")
      )
      expect(yield* netns.dropped, "packets were dropped").toBeGreaterThan(0)
      yield* netns.restore
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
      yield* holdsNothing(netns.address)
    }), { timeout: 240_000 })

  it.scopedLive(
    "the link black-holed for 20 s mid-transfer, then restored: timeouts, retries, resume, identical",
    () =>
      Effect.gen(function*() {
        const { dest, netns, sha256 } = yield* faultyWorld
        const client = yield* spawnClient([netns.address, PORT, "big.bin", dest, "--timeout", "3 seconds"])
        // Mid-transfer: some of the file is on disk, not all of it.
        yield* sizeOf(path.join(dest, ".big.bin.ferry-partial")).pipe(
          Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (size) => size >= 16 * MiB }),
          bounded("60 seconds", "the partial file to grow")
        )
        yield* netns.blackhole
        // The fault itself lasts 20 s: the client times out, its reconnections fail, it keeps trying.
        yield* Effect.sleep("20 seconds")
        yield* netns.restore
        const done = yield* client.exited.pipe(bounded("90 seconds", "the client's retries after the link came back"))
        expect(done.code, client.stderr()).toBe(0)
        expect(client.stderr()).toMatch(/trying again/)
        expect(client.stderr()).toMatch(/resuming big\.bin at/)
        expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
        yield* holdsNothing(netns.address)
      }),
    { timeout: 240_000 }
  )
})

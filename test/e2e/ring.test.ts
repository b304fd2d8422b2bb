/**
 * The client's ring (`--servers`) against three built servers, as a user runs them: 300 names
 * each loaded by exactly the node the ring gives it; one node killed, its names served by their
 * next node while the others' counters say their own files stayed put; the node restarted on its
 * port, its names back on it; a node that accepts connections and drops them, its names fetched
 * from the next node. What each node holds and counts is read with the ring's own `list` and
 * `stats`, which ask every node.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import * as path from "node:path"
import * as Ring from "../../src/ring/Ring.js"
import {
  bounded,
  HOST,
  runClient,
  type Server,
  sha256File,
  startServer,
  tempDir,
  workersOf,
  writeRandomFile
} from "./harness.js"

const FILES = 300
const names = Array.from({ length: FILES }, (_, i) => `set/file-${String(i).padStart(3, "0")}.bin`)

interface NodeView {
  readonly loads: number
  readonly hits: number
  readonly cached: ReadonlySet<string>
}

const keyOf = (server: Server) => `${HOST}:${server.port}`

/**
 * Each node's loads, hits and cached names, from `list --json` and `stats --json` over the ring;
 * with `down`, that node's failure is the one line on stderr and exit code 4 (cannot connect).
 */
const look = (servers: string, keys: ReadonlyArray<string>, down?: string) =>
  Effect.gen(function*() {
    const listed = yield* runClient(["--servers", servers, "list", "--json"])
    const stats = yield* runClient(["--servers", servers, "stats", "--json"])
    for (const ran of [listed, stats]) {
      expect(ran.code, ran.stderr).toBe(down === undefined ? 0 : 4)
      if (down !== undefined) {
        expect(ran.stderr).toMatch(new RegExp(`^ferry-client: ${down}: cannot connect to [^\n]*\n$`))
      }
    }
    const listing = JSON.parse(listed.stdout) as {
      readonly nodes: ReadonlyArray<
        { readonly server: string; readonly entries: ReadonlyArray<{ readonly name: string }> }
      >
    }
    const counters = JSON.parse(stats.stdout) as {
      readonly nodes: Record<string, { readonly loads: number; readonly hits: number }>
      readonly total: { readonly loads: number }
    }
    return new Map(
      keys.filter((key) => key !== down).map((key) => {
        const entries = listing.nodes.find((node) => node.server === key)?.entries ?? []
        const { hits, loads } = counters.nodes[key]!
        return [key, { loads, hits, cached: new Set(entries.map((entry) => entry.name)) }] as const
      })
    )
  })

/** Fetches `wanted` through the ring (given in FERRY_SERVERS with `viaEnv`) into a new directory; checks the bytes. */
const fetch = (
  servers: string,
  wanted: ReadonlyArray<string>,
  digests: ReadonlyMap<string, string>,
  viaEnv = false
) =>
  Effect.gen(function*() {
    const into = yield* tempDir("ferry-e2e-ring-out-")
    const ran = viaEnv
      ? yield* runClient([...wanted, into, "--quiet"], { env: { FERRY_SERVERS: servers } })
      : yield* runClient(["--servers", servers, ...wanted, into, "--quiet"])
    expect(ran.code, ran.stderr).toBe(0)
    for (const name of wanted) expect(yield* sha256File(path.join(into, path.basename(name)))).toBe(digests.get(name))
    return ran
  })

const delta = (before: Map<string, NodeView>, after: Map<string, NodeView>, key: string) => ({
  loads: after.get(key)!.loads - before.get(key)!.loads,
  hits: after.get(key)!.hits - before.get(key)!.hits
})

describe("a ring of three servers", () => {
  it.scoped("each name loaded by its node; a node killed hands its names on, and gets them back", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ferry-e2e-ring-")
      const digests = new Map<string, string>()
      yield* Effect.forEach(
        names,
        (name, i) =>
          Effect.map(writeRandomFile(path.join(dir, name), 512 + (i * 97) % 4096), (sha) => {
            digests.set(name, sha)
          }),
        { concurrency: 16, discard: true }
      )
      const nodes: Array<Server> = yield* Effect.all([startServer(dir), startServer(dir), startServer(dir)], {
        concurrency: "unbounded"
      })
      const keys = nodes.map(keyOf)
      const servers = keys.join(",")
      const ring = Ring.make(keys)
      const owner = new Map(names.map((name) => [name, keys[Ring.ownerOf(ring, name)]!]))
      const ownedBy = (key: string) => names.filter((name) => owner.get(name) === key)

      // All three up: each file loaded once in all, by the node the ring gives it.
      yield* fetch(servers, names, digests)
      const first = yield* look(servers, keys)
      expect([...first.values()].reduce((sum, node) => sum + node.loads, 0)).toBe(FILES)
      for (const key of keys) {
        expect(first.get(key)!.cached, key).toEqual(new Set(ownedBy(key)))
        expect(first.get(key)!.loads, key).toBe(ownedBy(key).length)
        expect(ownedBy(key).length, `${key}'s share of ${FILES}`).toBeGreaterThan(FILES / 6)
      }

      // One node killed: its names go to their next node, each loaded there once; the survivors'
      // own files do not move (their hits stay while only the moved names are asked for).
      const victim = 1
      const killed = keys[victim]!
      const survivors = keys.filter((key) => key !== killed)
      nodes[victim]!.process.kill("SIGKILL")
      yield* nodes[victim]!.exited
      const next = new Map(ownedBy(killed).map((name) => [name, keys[Ring.ownerOf(ring, name, (i) => i !== victim)]!]))
      const moved = yield* fetch(servers, ownedBy(killed), digests)
      expect(moved.stderr).toBe("")
      const afterKill = yield* look(servers, keys, killed)
      for (const key of survivors) {
        const taken = [...next].filter(([, to]) => to === key).map(([name]) => name)
        expect(delta(first, afterKill, key), key).toEqual({ loads: taken.length, hits: 0 })
        expect(afterKill.get(key)!.cached, key).toEqual(new Set([...ownedBy(key), ...taken]))
      }
      const rest = names.filter((name) => owner.get(name) !== killed)
      yield* fetch(servers, rest, digests)
      const again = yield* look(servers, keys, killed)
      for (const key of survivors) {
        expect(delta(afterKill, again, key), key).toEqual({ loads: 0, hits: ownedBy(key).length })
      }

      // Back on its port: its names return to it, loaded there once; the survivors' own files are
      // hits where they were.
      nodes[victim] = yield* startServer(dir, [], { port: nodes[victim]!.port })
      yield* fetch(servers, names, digests, true)
      const back = yield* look(servers, keys)
      expect(back.get(killed)!.loads).toBe(ownedBy(killed).length)
      expect(back.get(killed)!.cached).toEqual(new Set(ownedBy(killed)))
      for (const key of survivors) {
        expect(delta(again, back, key), key).toEqual({ loads: 0, hits: ownedBy(key).length })
      }
    }))
})

/** A port that accepts every connection and closes it at once, for as long as the scope lasts. */
const droppingPort = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const server = Net.createServer((socket) => socket.destroy())
    server.listen(0, HOST, () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

describe("a ring with a node that drops its connections", () => {
  it.scoped("its names, single or many, are fetched from their next node, and it is said once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ferry-e2e-ring-")
      const wanted = names.slice(0, 40)
      const digests = new Map<string, string>()
      yield* Effect.forEach(wanted, (name) =>
        Effect.map(writeRandomFile(path.join(dir, name), 2048), (sha) => {
          digests.set(name, sha)
        }), { discard: true })
      const good = yield* startServer(dir)
      const dropping = `${HOST}:${yield* droppingPort}`
      const servers = `${dropping},${keyOf(good)}`
      const ring = Ring.make([dropping, keyOf(good)])
      const theirs = wanted.filter((name) => Ring.ownerOf(ring, name) === 0)
      expect(theirs.length).toBeGreaterThan(5)

      const into = yield* tempDir("ferry-e2e-ring-out-")
      const many = yield* runClient(["--servers", servers, ...wanted, into])
      expect(many.code, many.stderr).toBe(0)
      expect(many.stderr.match(/ is down /g), many.stderr).toHaveLength(1)
      expect(many.stderr).toContain(`${dropping} is down (`)
      for (const name of wanted) expect(yield* sha256File(path.join(into, path.basename(name)))).toBe(digests.get(name))

      const one = yield* runClient(["--servers", servers, theirs[0]!, yield* tempDir("ferry-e2e-ring-out-")])
      expect(one.code, one.stderr).toBe(0)
      expect(one.stderr).toContain(`${dropping} is down (`)
    }))
})

const loadsOfAll = (port: number) =>
  Effect.map(runClient([HOST, port, "stats", "--json"]), (ran) => {
    expect(ran.code, ran.stderr).toBe(0)
    return JSON.parse(ran.stdout) as { readonly loads: number; readonly workers: number }
  })

describe("a ring over the workers of one server (--workers 3)", () => {
  it.scoped(
    "each name cached by exactly its worker; a killed worker is restarted and its names come back to it",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ferry-e2e-ring-")
        const digests = new Map<string, string>()
        yield* Effect.forEach(names, (name, i) =>
          Effect.map(writeRandomFile(path.join(dir, name), 512 + (i * 97) % 4096), (sha) => {
            digests.set(name, sha)
          }), { concurrency: 16, discard: true })
        const server = yield* startServer(dir, ["--workers", "3"])
        const { pids, ports } = yield* workersOf(server)
        expect(ports).toHaveLength(3)
        const keys = ports.map((port) =>
          `${HOST}:${port}`
        )
        const servers = keys.join(",")
        const ring = Ring.make(keys)
        const ownedBy = (key: string) =>
          names.filter((name) => keys[Ring.ownerOf(ring, name)] === key)

        // Each file loaded once among the three (stats from any worker sums them all), by its owner.
        yield* fetch(servers, names, digests)
        const all = yield* loadsOfAll(ports[0]!)
        expect(all).toMatchObject({ loads: FILES, workers: 3 })
        const cached = yield* look(servers, keys)
        for (const key of keys) expect(cached.get(key)!.cached, key).toEqual(new Set(ownedBy(key)))

        // A worker killed: the primary starts it again on its port, with an empty cache; the ring
        // sends it its own names again, loaded there once, while the others' stay where they were.
        process.kill(pids[1]!, "SIGKILL")
        yield* server.waitForStderr((log) => log.includes(`worker 1 restarted on 127.0.0.1:${ports[1]}`) || undefined)
          .pipe(Effect.orDie, bounded("20 seconds", "the primary restarting worker 1 on its port"))
        yield* fetch(servers, names, digests)
        const after = yield* look(servers, keys)
        for (const key of keys) expect(after.get(key)!.cached, key).toEqual(new Set(ownedBy(key)))
        // The restarted worker counts from 0: its own names once each, the others' as before.
        expect((yield* loadsOfAll(ports[0]!)).loads).toBe(FILES)
      }),
    240_000
  )
})

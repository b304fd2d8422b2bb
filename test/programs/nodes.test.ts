/**
 * The client's view of a ring: each name's node by the ring, a node marked down skipped for
 * DOWN_FOR (its names on their next node) and then tried again, and `--servers` as typed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestClock from "effect/TestClock"
import { parseServers } from "../../src/cli/clientRing.js"
import * as Nodes from "../../src/programs/client/Nodes.js"
import * as Ring from "../../src/ring/Ring.js"
import { ConnectionError } from "../../src/services/Connection.js"

const servers = [1, 2, 3].map((i) => ({ host: "10.0.0.1", port: 9000 + i }))
const keys = servers.map(Nodes.key)

describe("Nodes", () => {
  it.effect("picks each name's ring owner; a node down sends its names to their next node for DOWN_FOR", () =>
    Effect.gen(function*() {
      const notices: Array<string> = []
      const nodes = Nodes.make(servers, { notify: (line) => Effect.sync(() => notices.push(line)) })
      const ring = Ring.make(keys)
      const name = "docs/a.txt"
      const owner = Ring.ownerOf(ring, name)
      expect(Nodes.key(yield* nodes.pick(name))).toBe(keys[owner])

      expect(yield* nodes.markDown(servers[owner]!, "refused")).toBe(true)
      expect(notices).toEqual([`${keys[owner]} is down (refused): its names go to their next node for 30s`])
      const next = Ring.preference(ring, name)[1]!
      expect(Nodes.key(yield* nodes.pick(name))).toBe(keys[next])
      expect(Nodes.key(nodes.lastPicked(name))).toBe(keys[next])

      yield* TestClock.adjust("29 seconds")
      expect(Nodes.key(yield* nodes.pick(name))).toBe(keys[next])
      yield* TestClock.adjust("1 second")
      expect(Nodes.key(yield* nodes.pick(name))).toBe(keys[owner])
    }))

  it.effect("with every node down, says no other is up, and asks the owner again", () =>
    Effect.gen(function*() {
      const nodes = Nodes.make(servers)
      expect(yield* nodes.markDown(servers[0]!, "x")).toBe(true)
      expect(yield* nodes.markDown(servers[1]!, "x")).toBe(true)
      expect(yield* nodes.markDown(servers[2]!, "x")).toBe(false)
      const name = "b"
      expect(Nodes.key(yield* nodes.pick(name))).toBe(keys[Ring.ownerOf(Ring.make(keys), name)])
    }))

  it.effect("a single server is a ring of one: never marked down", () =>
    Effect.gen(function*() {
      const nodes = Nodes.of(servers[0]!)
      expect(yield* nodes.markDown(servers[0]!, "x")).toBe(false)
      expect(yield* nodes.pick("a")).toEqual(servers[0])
    }))

  it.effect("onNode moves on after a node failure, not after a TLS failure", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const refused = new ConnectionError({ reason: "Refused" })
      const nodes = Nodes.make(servers)
      const answer = yield* Nodes.onNode(nodes, "n", (server) => {
        asked.push(Nodes.key(server))
        return asked.length < 3 ? Effect.fail(refused) : Effect.succeed("ok")
      })
      expect(answer).toBe("ok")
      expect(new Set(asked).size).toBe(3)

      const tls = new ConnectionError({ reason: "Tls" })
      const once: Array<string> = []
      const failed = yield* Effect.flip(Nodes.onNode(Nodes.make(servers), "n", (server) => {
        once.push(Nodes.key(server))
        return Effect.fail(tls)
      }))
      expect(failed).toBe(tls)
      expect(once).toHaveLength(1)
    }))
})

describe("--servers", () => {
  it("takes HOST:PORT lists, IPv6 in brackets, each server once", () => {
    expect(parseServers("a:1, b:9098,a:1,[::1]:9098")).toEqual(
      Either.right([{ host: "a", port: 1 }, { host: "b", port: 9098 }, { host: "::1", port: 9098 }])
    )
    expect(parseServers("a")).toMatchObject(Either.left(expect.stringContaining("\"a\" is not HOST:PORT")))
    expect(parseServers("a:0")).toMatchObject(Either.left(expect.stringContaining("1 to 65535")))
    expect(parseServers(":80")).toMatchObject(Either.left(expect.stringContaining("not HOST:PORT")))
    expect(parseServers(" , ")).toEqual(Either.left("--servers needs at least one HOST:PORT"))
  })
})

/**
 * `--max-connections-per-client` on in-memory layers (every connection there comes from the address
 * "memory"), and how a client's address is read from a connection's peer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import { clientAddress } from "../../src/programs/server/clientSlots.js"
import * as Codec from "../../src/protocol/Codec.js"
import { pattern } from "../support/responses.js"
import {
  connect,
  endsCleanly,
  eventually,
  expectComplete,
  get,
  PREFIX,
  readRawFailure,
  startServer,
  stats,
  world
} from "../support/serverWorld.js"

describe("clientAddress", () => {
  it("is the host of host:port, IPv4 or IPv6, with or without brackets", () => {
    expect(clientAddress("127.0.0.1:54630")).toBe("127.0.0.1")
    expect(clientAddress("::1:54630")).toBe("::1")
    expect(clientAddress("::ffff:10.0.0.7:443")).toBe("::ffff:10.0.0.7")
    expect(clientAddress("[2001:db8::1]:9098")).toBe("2001:db8::1")
    expect(clientAddress("memory:3")).toBe("memory")
  })
})

describe("--max-connections-per-client", () => {
  it.scoped("turns away one connection too many from an address with BUSY, the others undisturbed", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = pattern(3_000)
      yield* files.put("a", content)
      yield* startServer({ maxConnections: 16, maxConnectionsPerClient: 2 })
      const first = yield* connect
      const second = yield* connect
      expectComplete(yield* get(first, "a"), content)
      expectComplete(yield* get(second, "a"), content)

      yield* Effect.scoped(Effect.gen(function*() {
        const third = yield* connect
        const busy = yield* readRawFailure(third.reader)
        expect(busy).toMatchObject({ prefix: PREFIX, status: Codec.Status.Busy, kind: 0 })
        expect(busy.message).toContain("from this address")
        expect(yield* endsCleanly(third.reader)).toBe(true)
        yield* third.connection.end
      }))
      const afterBusy = yield* eventually(stats(first), (s) => s.activeConnections === 2)
      expect(afterBusy).toMatchObject({ turnedAway: 1, connections: 3, activeConnections: 2 })
      expectComplete(yield* get(second, "a"), content)

      // Its slot comes back when one of its connections closes.
      yield* second.connection.end
      expect(yield* endsCleanly(second.reader)).toBe(true)
      yield* eventually(stats(first), (s) => s.activeConnections === 1)
      const fourth = yield* connect
      expectComplete(yield* get(fourth, "a"), content)
      expect(yield* stats(fourth)).toMatchObject({ activeConnections: 2, connections: 4, turnedAway: 1 })
    }).pipe(Effect.provide(world(100_000))))
})

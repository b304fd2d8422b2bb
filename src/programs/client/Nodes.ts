/**
 * The servers a client spreads its names over (`--servers`): each name's node by the ring
 * (src/ring/Ring.ts), skipping the nodes marked down. A node that refuses or drops a connection is
 * marked down for `DOWN_FOR`; meanwhile its names go to their next node on the ring, which is where
 * a ring without it would send them, and after that they are tried on it again. One server is a
 * ring of one: its names have no other node, and failures are retried as they always were.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { ProtocolError } from "../../protocol/ProtocolError.js"
import * as Ring from "../../ring/Ring.js"
import type { ConnectionError } from "../../services/Connection.js"
import type { DestinationError, TransferError } from "./errors.js"
import type { ServerAddress } from "./exchange.js"

/**
 * How long a node that failed stays out. Long enough that the rest of a command (and a batch of
 * them) does not wait on it again and again; short enough that a restarted node gets its names
 * back within the minute. A new client process starts with every node up.
 */
export const DOWN_FOR = Duration.seconds(30)

export interface Nodes {
  readonly servers: ReadonlyArray<ServerAddress>
  /** The node to ask for `name` now: its first on the ring not marked down (its owner when all are). */
  readonly pick: (name: string) => Effect.Effect<ServerAddress>
  /** The node last picked for `name`, for a failure to name where it happened. */
  readonly lastPicked: (name: string) => ServerAddress
  /** Marks `server` down; true if some other node is up to take its names. */
  readonly markDown: (server: ServerAddress, why: string) => Effect.Effect<boolean>
}

export const key = (server: ServerAddress): string => `${server.host}:${server.port}`

/**
 * Whether a failure says the node is gone (refused, reset, closed mid-response, silent) rather
 * than that it answered: the failures that move a name to its next node. TLS is not one: it fails
 * the same way on every node of one deployment.
 */
export const isNodeFailure = (error: ConnectionError | ProtocolError | TransferError | DestinationError): boolean =>
  (error._tag === "ConnectionError" && error.reason !== "Tls") ||
  (error._tag === "ProtocolError" && error.reason === "Truncated")

export const make = (
  servers: ReadonlyArray<ServerAddress>,
  options: {
    readonly downFor?: Duration.DurationInput
    /** Told when a node is marked down. */
    readonly notify?: (line: string) => Effect.Effect<void>
  } = {}
): Nodes => {
  const ring = Ring.make(servers.map(key))
  const byKey = new Map(servers.map((server) => [key(server), server]))
  const ordered = ring.nodes.map((node) => byKey.get(node)!)
  const downFor = Duration.toMillis(options.downFor ?? DOWN_FOR)
  // Owned by this client alone, touched only inside Effect.sync.
  const downUntil = new Float64Array(ordered.length)
  const picked = new Map<string, ServerAddress>()
  const isUp = (now: number) => (i: number) => downUntil[i]! <= now
  return {
    servers: ordered,
    pick: (name) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const up = Ring.ownerOf(ring, name, isUp(now))
          const server = ordered[up === -1 ? Ring.ownerOf(ring, name) : up]!
          if (ordered.length > 1) picked.set(name, server)
          return server
        })),
    lastPicked: (name) => picked.get(name) ?? ordered[Ring.ownerOf(ring, name)]!,
    markDown: (server, why) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const index = ring.nodes.indexOf(key(server))
        if (index === -1 || ordered.length === 1) return Effect.succeed(false)
        const wasUp = downUntil[index]! <= now
        const others = Effect.sync(() => {
          downUntil[index] = now + downFor
          return ordered.some((_, i) => i !== index && isUp(now)(i))
        })
        return Effect.tap(others, (moved) =>
          wasUp && options.notify !== undefined
            ? options.notify(
              `${key(server)} is down (${why}): ${
                moved ? "its names go to their next node" : "no other node is up"
              } for ${Duration.format(Duration.millis(downFor))}`
            )
            : Effect.void)
      })
  }
}

/** `server` as a ring of one, or the ring given. */
export const of = (server: ServerAddress | Nodes): Nodes => "pick" in server ? server : make([server])

/**
 * `use` on the node for `name`; on a node failure, the node is marked down and `use` runs again on
 * the next node, until it succeeds, fails otherwise, or no node is left up.
 */
export const onNode = <A, E extends Parameters<typeof isNodeFailure>[0], R>(
  nodes: Nodes,
  name: string,
  use: (server: ServerAddress) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(nodes.pick(name), (server) =>
    Effect.catchIf(use(server), isNodeFailure, (error) =>
      Effect.flatMap(
        nodes.markDown(server, error.message),
        (another) => another ? onNode(nodes, name, use) : Effect.fail(error)
      )))

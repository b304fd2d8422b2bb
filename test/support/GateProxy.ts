/**
 * A TCP proxy in front of a server that lets only so many bytes through towards the client, then
 * holds the rest back until opened: a transfer cut at a known point, without timing.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"

export interface GateProxy {
  readonly port: number
  /** Bytes sent towards clients so far, all connections together. */
  readonly passed: () => number
  /** From now on, everything goes through. */
  readonly open: Effect.Effect<void>
}

/**
 * Forwards 127.0.0.1:PORT to `target`; towards clients, at most `budget` bytes in all (then held).
 * A side that closes closes the other. Closed with everything it holds when the scope closes.
 */
export const gateProxy = (target: number, budget: number): Effect.Effect<GateProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    let passed = 0
    let opened = false
    const held: Array<() => void> = []
    const sockets = new Set<net.Socket>()
    const server = net.createServer((client) => {
      const upstream = net.connect(target, "127.0.0.1")
      sockets.add(client).add(upstream)
      const closeBoth = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("error", closeBoth).on("close", closeBoth)
      upstream.on("error", closeBoth).on("close", closeBoth)
      client.on("data", (bytes) => upstream.write(bytes))
      upstream.on("data", (bytes: Buffer) => {
        if (opened) return void client.write(bytes)
        const allowed = Math.max(0, budget - passed)
        passed += Math.min(allowed, bytes.length)
        if (allowed > 0) client.write(bytes.subarray(0, allowed))
        if (allowed >= bytes.length) return
        // The rest waits for `open`, and nothing more is read meanwhile.
        upstream.pause()
        const rest = bytes.subarray(allowed)
        held.push(() => {
          client.write(rest)
          upstream.resume()
        })
      })
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      port: (server.address() as net.AddressInfo).port,
      passed: () => passed,
      open: Effect.sync(() => {
        opened = true
        for (const release of held.splice(0)) release()
      })
    } satisfies GateProxy
  })

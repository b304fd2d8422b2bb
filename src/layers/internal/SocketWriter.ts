/**
 * The writing half of a Connection over a Node socket: a write completes once its bytes have been
 * handed to the kernel, and one that waits while the peer takes nothing for a stall timeout fails.
 */
import * as Effect from "effect/Effect"
import type * as Net from "node:net"
import { type Connection, ConnectionError } from "../../services/Connection.js"
import { toConnectionError } from "./SocketReader.js"

interface Handle {
  readonly writeQueueSize?: number
  /** Over TLS, the TCP handle under the TLS one. */
  readonly _parent?: Handle
}

/**
 * Bytes written and not yet in the kernel. Node's `writableLength` only goes down as whole writes
 * complete, so a 1 MiB write to a slow reader shows no progress until all of it is taken; libuv's
 * count on the handle goes down with each part the kernel takes (Node's own socket timeout reads it
 * the same way to tell a slow peer from an idle one). Over TLS the socket's handle counts a write's
 * ciphertext until all of it is sent; the TCP handle under it counts down as the kernel takes it.
 */
export const unsentBytes = (socket: Net.Socket): number => {
  const handle = (socket as unknown as { readonly _handle?: Handle })._handle
  const queued = (handle?._parent ?? handle)?.writeQueueSize
  return socket.writableLength + (typeof queued === "number" ? queued : 0)
}

export const make = (
  socket: Net.Socket,
  stallTimeoutMillis: number | undefined,
  failure: () => ConnectionError | undefined
): Pick<Connection, "write" | "end"> => {
  /**
   * Waits until `start` calls `done` (with an error: fails), failing if the socket errors or closes
   * first, or if the peer takes nothing for a stall timeout; the listeners (and what `start` returns)
   * and the timer go either way.
   */
  const awaitProgress = (start: (done: (error?: Error | null) => void) => (() => void) | void) =>
    Effect.async<void, ConnectionError>((resume) => {
      // A plain timer, armed only while waiting: most writes do not wait.
      let unsent = unsentBytes(socket)
      let timer: NodeJS.Timeout | undefined = undefined
      const watch = () => {
        timer = stallTimeoutMillis === undefined ? undefined : setTimeout(() => {
          const now = unsentBytes(socket)
          if (now < unsent) {
            unsent = now
            return watch()
          }
          finish(Effect.fail(new ConnectionError({ reason: "Stalled" })))
        }, stallTimeoutMillis)
      }
      let waiting = true
      const finish = (effect: Effect.Effect<void, ConnectionError>) => {
        if (!waiting) return
        waiting = false
        removeListeners()
        resume(effect)
      }
      const onError = (cause: Error) => finish(Effect.fail(toConnectionError(cause)))
      const onClose = () => finish(Effect.fail(failure() ?? new ConnectionError({ reason: "Closed" })))
      let stop: (() => void) | void = undefined
      const removeListeners = () => {
        clearTimeout(timer)
        stop?.()
        socket.off("error", onError)
        socket.off("close", onClose)
      }
      socket.on("error", onError)
      socket.on("close", onClose)
      stop = start((error) => finish(error ? Effect.fail(failure() ?? toConnectionError(error)) : Effect.void))
      if (!waiting) {
        stop?.()
        return
      }
      unsent = unsentBytes(socket)
      watch()
      return Effect.sync(() => {
        waiting = false
        removeListeners()
      })
    })

  const write = (...chunks: ReadonlyArray<Uint8Array>) =>
    Effect.suspend(() => {
      const failed = failure()
      if (failed !== undefined) return Effect.fail(failed)
      if (socket.destroyed || socket.writableEnded) return Effect.fail(new ConnectionError({ reason: "Closed" }))
      // Corked, Node hands all the chunks to the kernel in one writev. The last one's callback says
      // when all of them have been handed over: only then may the caller reuse their memory.
      let handedOver: { readonly error: Error | null | undefined } | undefined = undefined
      let onHandedOver: (error?: Error | null) => void = (error) => void (handedOver = { error })
      if (chunks.length > 1) socket.cork()
      chunks.forEach((chunk, index) =>
        socket.write(chunk, index === chunks.length - 1 ? (error) => onHandedOver(error) : undefined)
      )
      if (chunks.length > 1) socket.uncork()
      // Written at once (the callback only comes on the next tick), as most writes are.
      if (socket.writableLength === 0) return Effect.void
      return awaitProgress((done) => {
        if (handedOver !== undefined) return done(handedOver.error)
        onHandedOver = done
      })
    })

  const end = Effect.suspend(() => {
    if (socket.writableFinished) return Effect.void
    const failed = failure()
    if (failed !== undefined) return Effect.fail(failed)
    if (socket.destroyed) return Effect.fail(new ConnectionError({ reason: "Closed" }))
    return awaitProgress((done) => {
      socket.once("finish", done)
      socket.end()
      return () => socket.off("finish", done)
    })
  })

  return { write, end }
}

/**
 * The reading half of a Connection over a Node socket: chunks handed to one waiting read at a time,
 * a read deadline and a read timeout kept by plain timers armed only while a read waits, and the
 * socket paused whenever its inflow says it has read far enough ahead.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Net from "node:net"
import { type Connection, ConnectionError } from "../../services/Connection.js"
import type { Inflow } from "./Inflow.js"
import { tlsProblem } from "./tlsProblem.js"

type ReadResult = Effect.Effect<Option.Option<Uint8Array>, ConnectionError>

// The peer resetting or going away is its doing, not a fault of the network.
const closedCodes = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED"])

export const toConnectionError = (cause: unknown): ConnectionError => {
  // Over TLS: an alert from the peer, or a record that does not decrypt.
  const tls = tlsProblem(cause)
  if (tls !== undefined) return new ConnectionError({ reason: "Tls", tls, cause })
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return new ConnectionError({ reason: code !== undefined && closedCodes.has(code) ? "Closed" : "Failed", cause })
}

export const make = (
  socket: Net.Socket,
  inflow: Inflow,
  readTimeoutMillis: number | undefined
): Pick<Connection, "read" | "readDeadline"> & {
  /** What ended the connection, once something has: what a write then fails with. */
  readonly failure: () => ConnectionError | undefined
} => {
  // What arrived while nobody was reading.
  const received: Array<Uint8Array> = []
  let receivedBytes = 0
  const readers: Array<(result: ReadResult) => void> = []
  let peerEnded = false
  let failure: ConnectionError | undefined = socket.destroyed
    ? socket.errored ? toConnectionError(socket.errored) : new ConnectionError({ reason: "Closed" })
    : undefined

  const fail = (error: ConnectionError) => {
    failure ??= error
    for (const reader of readers.splice(0)) reader(Effect.fail(failure))
  }
  const pauseIfFull = () => {
    if (readers.length === 0 && !inflow.mayRead(receivedBytes)) socket.pause()
  }

  socket.pause()
  inflow.start((chunk) => {
    const reader = readers.shift()
    if (reader === undefined) {
      // Right after the chunk before it in the same memory (a slab filled read after read): one chunk of
      // both, so that a reader behind takes many small reads (TLS records, 16 KiB) in one.
      const last = received.at(-1)
      if (last !== undefined && last.buffer === chunk.buffer && last.byteOffset + last.length === chunk.byteOffset) {
        received[received.length - 1] = new Uint8Array(chunk.buffer, last.byteOffset, last.length + chunk.length)
      } else {
        received.push(chunk)
      }
      receivedBytes += chunk.length
    } else {
      inflow.taken(chunk)
      reader(Effect.succeed(Option.some(chunk)))
    }
    pauseIfFull()
  })
  socket.on("end", () => {
    peerEnded = true
    for (const reader of readers.splice(0)) reader(Effect.succeed(Option.none()))
  })
  socket.on("error", (cause) => fail(toConnectionError(cause)))
  socket.on("close", () => fail(new ConnectionError({ reason: "Closed" })))

  // The read deadline, in Date.now() milliseconds, and how the waiting read (reads take turns)
  // follows a new one.
  let deadline: number | undefined = undefined
  let rearm: (() => void) | undefined = undefined

  const wait = Effect.async<Option.Option<Uint8Array>, ConnectionError>((resume) => {
    // Plain timers, armed only while waiting: most reads find data already there.
    const timer = readTimeoutMillis === undefined ? undefined : setTimeout(() => {
      stopWaiting()
      resume(Effect.fail(new ConnectionError({ reason: "Stalled" })))
    }, readTimeoutMillis)
    let deadlineTimer: NodeJS.Timeout | undefined = undefined
    const clearTimers = () => {
      if (timer !== undefined) clearTimeout(timer)
      if (deadlineTimer !== undefined) clearTimeout(deadlineTimer)
      if (rearm === arm) rearm = undefined
    }
    const reader = (result: ReadResult) => {
      clearTimers()
      resume(result)
    }
    // Follows the deadline, now and whenever it is set again while this read waits.
    const arm = () => {
      if (deadlineTimer !== undefined) clearTimeout(deadlineTimer)
      if (deadline === undefined) return
      const left = deadline - Date.now()
      if (left > 0) deadlineTimer = setTimeout(arm, left)
      else {
        stopWaiting()
        resume(Effect.fail(new ConnectionError({ reason: "TimedOut" })))
      }
    }
    const stopWaiting = () => {
      clearTimers()
      const index = readers.indexOf(reader)
      if (index >= 0) readers.splice(index, 1)
      pauseIfFull()
    }
    readers.push(reader)
    rearm = arm
    socket.resume()
    if (deadline !== undefined) arm()
    return Effect.sync(stopWaiting)
  })

  const read = Effect.suspend((): ReadResult => {
    const chunk = received.shift()
    if (chunk !== undefined) {
      receivedBytes -= chunk.length
      inflow.taken(chunk)
      if (!peerEnded && inflow.mayRead(receivedBytes)) socket.resume()
      return Effect.succeed(Option.some(chunk))
    }
    if (peerEnded) return Effect.succeedNone
    if (failure !== undefined) return Effect.fail(failure)
    return wait
  })

  const readDeadline = (after: Duration.DurationInput | undefined) =>
    Effect.sync(() => {
      deadline = after === undefined ? undefined : Date.now() + Duration.toMillis(after)
      rearm?.()
    })

  return { read, readDeadline, failure: () => failure }
}

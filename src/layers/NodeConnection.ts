/**
 * A Connection over a Node socket, shared by the server and the client: the socket stays paused until
 * `read` asks for bytes, and `write` waits for 'drain' once Node's send buffer is full.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import { type Connection, ConnectionError } from "../services/Connection.js"

export interface ConnectionOptions {
  /**
   * How many bytes may be read ahead of what has been asked for. 0 (a server's choice: a client
   * cannot make it buffer anything) reads only when asked; a receiver of large responses reads
   * ahead so that the socket keeps flowing while it works on what it has.
   */
  readonly readAhead?: number
  /** How long a `read` may wait for the peer before failing `Stalled`; no limit when left out. */
  readonly readTimeout?: Duration.DurationInput
  /**
   * How long a `write` or `end` may wait while the peer takes nothing before failing `Stalled`; no
   * limit when left out. Progress is seen as Node reports it: when a write is handed to the kernel.
   */
  readonly stallTimeout?: Duration.DurationInput
}

/** The socket is destroyed when the scope closes, whether or not the connection was ended. */
export const make = (
  socket: Net.Socket,
  options: ConnectionOptions = {}
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      fromSocket(socket, {
        readAhead: options.readAhead ?? 0,
        readTimeoutMillis: millis(options.readTimeout),
        stallTimeoutMillis: millis(options.stallTimeout)
      })
    ),
    () =>
      Effect.sync(() => {
        if (!socket.destroyed) socket.destroy()
      })
  )

/**
 * Keeps a socket's errors from crashing the process before `make` takes it over (it reads them back
 * from `socket.errored`).
 */
export const guard = (socket: Net.Socket): Net.Socket => socket.on("error", ignoreError)

const ignoreError = () => {}

// The peer resetting or going away is its doing, not a fault of the network.
const closedCodes = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED"])

const toConnectionError = (cause: unknown): ConnectionError => {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return new ConnectionError({ reason: code !== undefined && closedCodes.has(code) ? "Closed" : "Failed", cause })
}

type ReadResult = Effect.Effect<Option.Option<Uint8Array>, ConnectionError>

const millis = (duration: Duration.DurationInput | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

const fromSocket = (socket: Net.Socket, limits: {
  readonly readAhead: number
  readonly readTimeoutMillis: number | undefined
  readonly stallTimeoutMillis: number | undefined
}): Connection => {
  const { readAhead, readTimeoutMillis, stallTimeoutMillis } = limits
  const peer = `${socket.remoteAddress}:${socket.remotePort}`
  // What arrived while nobody was reading: up to `readAhead` bytes, plus what Node delivers around a pause.
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

  socket.pause()
  socket.setNoDelay(true)
  socket.on("data", (buffer: Buffer) => {
    // A plain view of the same bytes, so that both transports hand out the same kind of array.
    const chunk = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    const reader = readers.shift()
    if (reader === undefined) {
      received.push(chunk)
      receivedBytes += chunk.length
    } else {
      reader(Effect.succeed(Option.some(chunk)))
    }
    if (readers.length === 0 && receivedBytes >= readAhead) socket.pause()
  })
  socket.on("end", () => {
    peerEnded = true
    for (const reader of readers.splice(0)) reader(Effect.succeed(Option.none()))
  })
  socket.on("error", (cause) => fail(toConnectionError(cause)))
  socket.on("close", () => fail(new ConnectionError({ reason: "Closed" })))

  const read = Effect.suspend((): ReadResult => {
    const chunk = received.shift()
    if (chunk !== undefined) {
      receivedBytes -= chunk.length
      if (readAhead > 0 && receivedBytes < readAhead && !peerEnded) socket.resume()
      return Effect.succeed(Option.some(chunk))
    }
    if (peerEnded) return Effect.succeedNone
    if (failure !== undefined) return Effect.fail(failure)
    return Effect.async<Option.Option<Uint8Array>, ConnectionError>((resume) => {
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
        if (readers.length === 0 && receivedBytes >= readAhead) socket.pause()
      }
      readers.push(reader)
      rearm = arm
      socket.resume()
      if (deadline !== undefined) arm()
      return Effect.sync(stopWaiting)
    })
  })

  // The read deadline, in Date.now() milliseconds, and how the waiting read (reads take turns)
  // follows a new one.
  let deadline: number | undefined = undefined
  let rearm: (() => void) | undefined = undefined
  const readDeadline = (after: Duration.DurationInput | undefined) =>
    Effect.sync(() => {
      deadline = after === undefined ? undefined : Date.now() + Duration.toMillis(after)
      rearm?.()
    })

  const write = (...chunks: ReadonlyArray<Uint8Array>) =>
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
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
    if (failure !== undefined) return Effect.fail(failure)
    if (socket.destroyed) return Effect.fail(new ConnectionError({ reason: "Closed" }))
    return awaitProgress((done) => {
      socket.once("finish", done)
      socket.end()
      return () => socket.off("finish", done)
    })
  })

  /**
   * Waits until `start` calls `done` (with an error: fails), failing if the socket errors or closes first, or if the peer
   * takes nothing for a stall timeout; the listeners (and what `start` returns) and the timer go
   * either way.
   */
  const awaitProgress = (start: (done: (error?: Error | null) => void) => (() => void) | void) =>
    Effect.async<void, ConnectionError>((resume) => {
      // A plain timer, armed only while waiting: most writes do not wait.
      let unsent = socket.writableLength
      let timer: NodeJS.Timeout | undefined = undefined
      const watch = () => {
        timer = stallTimeoutMillis === undefined ? undefined : setTimeout(() => {
          if (socket.writableLength < unsent) {
            unsent = socket.writableLength
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
      const onClose = () => finish(Effect.fail(failure ?? new ConnectionError({ reason: "Closed" })))
      let stop: (() => void) | void = undefined
      const removeListeners = () => {
        clearTimeout(timer)
        stop?.()
        socket.off("error", onError)
        socket.off("close", onClose)
      }
      socket.on("error", onError)
      socket.on("close", onClose)
      stop = start((error) => finish(error ? Effect.fail(failure ?? toConnectionError(error)) : Effect.void))
      if (!waiting) {
        stop?.()
        return
      }
      unsent = socket.writableLength
      watch()
      return Effect.sync(() => {
        waiting = false
        removeListeners()
      })
    })

  return { peer, read, readDeadline, write, end, unsent: Effect.sync(() => socket.writableLength) }
}

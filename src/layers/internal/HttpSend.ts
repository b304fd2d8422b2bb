/**
 * Writing an HTTP door's answer with Node's http module, with backpressure: a body in memory in one
 * `end`, a body in chunks one write at a time, each completing once its bytes are in the kernel, and a
 * client that takes nothing for a stall timeout dropped.
 */
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import type * as Net from "node:net"
import { type HttpAnswer, type HttpBody, HttpDoorError, type ImmediateAnswer } from "../../services/HttpDoor.js"
import { unsentBytes } from "./SocketWriter.js"

/** Drops the client when the socket has had bytes waiting and taken none of them for `stallMillis`. */
export const watchStalls = (socket: Net.Socket, stallMillis: number, onStall: () => void) => {
  let unsent = unsentBytes(socket)
  const timer = setInterval(() => {
    const now = unsentBytes(socket)
    if (now > 0 && now >= unsent) onStall()
    unsent = now
  }, stallMillis)
  return () => clearInterval(timer)
}

/**
 * Sends an answer decided at once, in one `end`, and tells it how the sending ended (`close` follows
 * `finish` on a response that got to its end, and comes alone on one cut off).
 */
export const sendNow = (response: Http.ServerResponse, immediate: ImmediateAnswer, stallMillis: number) => {
  const socket = response.socket!
  const { answer } = immediate
  let stalled = false
  response.writeHead(answer.status, answer.headers)
  response.end(answer.body._tag === "Bytes" ? answer.body.bytes : undefined)
  const stopWatching = unsentBytes(socket) > 0
    ? watchStalls(socket, stallMillis, () => {
      stalled = true
      socket.destroy()
    })
    : undefined
  response.once("close", () => {
    stopWatching?.()
    immediate.done(stalled ? "stalled" : response.writableFinished ? "sent" : "closed")
  })
}

/** How `answer`s are sent, dropping a client that takes nothing for `stallMillis`. */
export const makeSend = (stallMillis: number) => {
  /**
   * Sends a body already in memory in one `end`, completing once the response has been handed to
   * the kernel (`close` after `finish`), failing when the client goes first or stops reading. One
   * listener and no fiber between the write and the wait: this is most of what a cached hit costs
   * the door.
   */
  const sendWhole = (response: Http.ServerResponse, answer: HttpAnswer, body: Uint8Array | undefined) =>
    Effect.async<void, HttpDoorError>((resume) => {
      const socket = response.socket!
      let stalled = false
      response.writeHead(answer.status, answer.headers)
      response.end(body)
      const stopWatching = unsentBytes(socket) > 0
        ? watchStalls(socket, stallMillis, () => {
          stalled = true
          socket.destroy()
        })
        : undefined
      // `close` follows `finish` on a response that got to its end, and comes alone on one cut off.
      const onClose = () => {
        stopWatching?.()
        resume(
          response.writableFinished && !stalled
            ? Effect.void
            : Effect.fail(new HttpDoorError({ reason: stalled ? "Stalled" : "Closed" }))
        )
      }
      response.once("close", onClose)
      return Effect.sync(() => {
        response.off("close", onClose)
        stopWatching?.()
        // Interrupted (the grace period is over): the client gets no more.
        socket.destroy()
      })
    })

  /** Sends a body pulled a chunk at a time, each written once the last is handed to the kernel. */
  const sendChunks = (response: Http.ServerResponse, answer: HttpAnswer, body: HttpBody & { _tag: "Chunks" }) =>
    Effect.suspend(() => {
      const socket = response.socket!
      let stalled = false
      const closed = () => new HttpDoorError({ reason: stalled ? "Stalled" : "Closed" })
      const stopWatching = watchStalls(socket, stallMillis, () => {
        stalled = true
        socket.destroy()
      })
      /** Waits for `start`'s callback, or for the response to close before it. */
      const awaitEvent = (start: (done: (error?: Error | null) => void) => void) =>
        Effect.async<void, HttpDoorError>((resume) => {
          let waiting = true
          const finish = (failed: boolean) => {
            if (!waiting) return
            waiting = false
            response.off("close", onClose)
            resume(failed ? Effect.fail(closed()) : Effect.void)
          }
          const onClose = () => finish(true)
          response.on("close", onClose)
          // Node says `finish` even when the socket was destroyed under it: a stall is never finished.
          start((error) => finish(stalled || (error !== undefined && error !== null)))
          return Effect.sync(() => {
            waiting = false
            response.off("close", onClose)
            // Interrupted (the grace period is over): the client gets no more.
            socket.destroy()
          })
        })
      const finished = awaitEvent((done) => {
        if (response.writableFinished) return done()
        response.once("finish", () => done())
      })
      response.writeHead(answer.status, answer.headers)
      const { next, sent } = body
      const loop: Effect.Effect<void, HttpDoorError> = Effect.flatMap(next, (chunk) => {
        if (chunk.length === 0) return Effect.suspend(() => (response.end(), finished))
        const started = Date.now()
        return awaitEvent((done) => response.write(chunk, done)).pipe(
          Effect.zipRight(Effect.suspend(() => sent(chunk, Date.now() - started))),
          Effect.zipRight(loop)
        )
      })
      return loop.pipe(
        Effect.tapError(() => Effect.sync(() => socket.destroy())),
        Effect.ensuring(Effect.sync(stopWatching))
      )
    })

  /** Sends `answer`, completing once it is all handed to the kernel; fails if the client goes first. */
  return (response: Http.ServerResponse, answer: HttpAnswer): Effect.Effect<void, HttpDoorError> => {
    switch (answer.body._tag) {
      case "Empty":
        return sendWhole(response, answer, undefined)
      case "Bytes":
        return sendWhole(response, answer, answer.body.bytes)
      case "Chunks":
        return sendChunks(response, answer, answer.body)
    }
  }
}

/**
 * An in-memory network for unit tests: a SocketClient whose connections arrive at the SocketServer of
 * the same network, each direction a small buffer so that a writer waits while its reader does not read.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as STM from "effect/STM"
import * as TRef from "effect/TRef"
import { type Connection, ConnectionError } from "../services/Connection.js"
import { SocketClient } from "../services/SocketClient.js"
import { SocketServer } from "../services/SocketServer.js"
import * as Acceptor from "./internal/Acceptor.js"
import { watchStalls } from "./internal/watchStalls.js"

/** How many bytes one direction holds before its writer waits, as a socket's send buffer would. */
export const bufferSize = 64 * 1024

/** One direction of a connection. */
type Pipe = TRef.TRef<PipeState>

interface PipeState {
  readonly chunks: Chunk.Chunk<Uint8Array>
  readonly bytes: number
  /** `Ended`: the writer finished sending; `Broken`: one side went away without finishing. */
  readonly status: "Open" | "Ended" | "Broken"
}

const makePipe: Effect.Effect<Pipe> = STM.commit(
  TRef.make<PipeState>({ chunks: Chunk.empty(), bytes: 0, status: "Open" })
)

const closed = () => new ConnectionError({ reason: "Closed" })

/** Runs `f` on the pipe's state as one transaction, retried from scratch whenever `f` retries. */
const transact = <A>(pipe: Pipe, f: (state: PipeState) => STM.STM<A, ConnectionError>) =>
  STM.commit(STM.flatMap(TRef.get(pipe), f))

const receive = (pipe: Pipe): STM.STM<Option.Option<Uint8Array>, ConnectionError> =>
  STM.flatMap(TRef.get(pipe), (state) => {
    // As after a reset, what was still buffered is lost.
    if (state.status === "Broken") return STM.fail(closed())
    if (!Chunk.isNonEmpty(state.chunks)) return state.status === "Ended" ? STM.succeed(Option.none()) : STM.retry
    const chunk = Chunk.headNonEmpty(state.chunks)
    const rest = Chunk.drop(state.chunks, 1)
    return STM.as(TRef.set(pipe, { ...state, chunks: rest, bytes: state.bytes - chunk.length }), Option.some(chunk))
  })

// Like a socket: the chunks are always taken (copied, as the kernel copies them, so the writer may
// reuse its memory), then the writer waits until the buffer is below its limit.
const send = (pipe: Pipe, chunks: ReadonlyArray<Uint8Array>): Effect.Effect<void, ConnectionError> => {
  const copies = chunks.map((chunk) => chunk.slice())
  return Effect.zipRight(
    transact(pipe, (state) => {
      if (state.status !== "Open") return STM.fail(closed())
      const bytes = chunks.reduce((bytes, chunk) => bytes + chunk.length, state.bytes)
      return TRef.set(pipe, { ...state, chunks: Chunk.appendAll(state.chunks, Chunk.fromIterable(copies)), bytes })
    }),
    transact(pipe, (state) => {
      if (state.status === "Broken") return STM.fail(closed())
      return state.bytes < bufferSize ? STM.void : STM.retry
    })
  )
}

const finish = (pipe: Pipe): Effect.Effect<void, ConnectionError> =>
  transact(pipe, (state) => {
    switch (state.status) {
      case "Open":
        return TRef.set(pipe, { ...state, status: "Ended" as const })
      case "Ended":
        return STM.void
      case "Broken":
        return STM.fail(closed())
    }
  })

/** One side going away: the peer can no longer send to it, nor receive what it did not finish sending. */
const abort = (incoming: Pipe, outgoing: Pipe): Effect.Effect<void> =>
  STM.commit(STM.zipRight(
    TRef.update(incoming, (state): PipeState => ({ ...state, status: "Broken" })),
    TRef.update(outgoing, (state): PipeState => state.status === "Open" ? { ...state, status: "Broken" } : state)
  ))

interface Endpoint {
  readonly peer: string
  readonly incoming: Pipe
  readonly outgoing: Pipe
}

const timedOut = () => new ConnectionError({ reason: "TimedOut" })

/**
 * Reading with a deadline by the clock (so that tests move it with TestClock). Setting the deadline
 * counts a change, which wakes waiting reads to follow the new one.
 */
const withDeadline = (incoming: Pipe) =>
  Effect.gen(function*() {
    let deadline: number | undefined = undefined
    const changes = yield* STM.commit(TRef.make(0))
    const changed = Symbol("changed")
    const read = Effect.gen(function*() {
      while (true) {
        const seen = yield* STM.commit(TRef.get(changes))
        const waiting = STM.orTry(
          receive(incoming),
          () => STM.flatMap(TRef.get(changes), (now) => now === seen ? STM.retry : STM.succeed(changed))
        )
        const at = deadline
        const left = at === undefined ? undefined : at - (yield* Clock.currentTimeMillis)
        const result = left === undefined
          ? yield* STM.commit(waiting)
          : left <= 0
          ? yield* STM.commit(STM.orTry(receive(incoming), () => STM.fail(timedOut())))
          : yield* Effect.timeoutFail(STM.commit(waiting), { duration: left, onTimeout: timedOut })
        if (result !== changed) return result
      }
    })
    const readDeadline = (after: Duration.DurationInput | undefined) =>
      Effect.gen(function*() {
        deadline = after === undefined ? undefined : (yield* Clock.currentTimeMillis) + Duration.toMillis(after)
        yield* STM.commit(TRef.update(changes, (n) => n + 1))
      })
    return { read, readDeadline }
  })

/** Closing the scope without `end` is an abrupt disconnect. */
const open = (
  { incoming, outgoing, peer }: Endpoint,
  options: { readonly stallTimeout?: Duration.DurationInput } = {}
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.map(withDeadline(incoming), ({ read, readDeadline }) => ({
        peer,
        read,
        readDeadline,
        write: (...chunks: ReadonlyArray<Uint8Array>) => send(outgoing, chunks),
        end: finish(outgoing)
      })),
      () => abort(incoming, outgoing)
    ),
    (connection) =>
      options.stallTimeout === undefined
        ? connection
        : watchStalls(
          connection,
          Effect.map(STM.commit(TRef.get(outgoing)), (state) => state.bytes),
          options.stallTimeout
        )
  )

export const make: Effect.Effect<Context.Context<SocketServer | SocketClient>, never, Scope.Scope> = Effect.gen(
  function*() {
    const acceptor = yield* Acceptor.make<Endpoint>({
      open,
      discard: (endpoint) => abort(endpoint.incoming, endpoint.outgoing),
      stopListening: Effect.void
    })
    const lastPeer = yield* Ref.make(0)

    const connect = (_host: string, _port: number, options: { readonly readTimeout?: Duration.DurationInput } = {}) =>
      Effect.gen(function*() {
        const toServer = yield* makePipe
        const toClient = yield* makePipe
        const peer = `memory:${yield* Ref.updateAndGet(lastPeer, (n) => n + 1)}`
        if (!acceptor.offer({ peer, incoming: toServer, outgoing: toClient })) {
          return yield* Effect.fail(new ConnectionError({ reason: "Refused" }))
        }
        const connection = yield* open({ peer: "memory:0", incoming: toClient, outgoing: toServer })
        const { readTimeout } = options
        if (readTimeout === undefined) return connection
        return {
          ...connection,
          read: Effect.timeoutFail(connection.read, {
            duration: readTimeout,
            onTimeout: () => new ConnectionError({ reason: "Stalled" })
          })
        }
      }).pipe(Effect.uninterruptible) // once the server has its side, the client side must reach the scope

    return Context.make(SocketServer, {
      address: { host: "memory", port: 0 },
      serve: acceptor.serve,
      accepting: acceptor.accepting
    }).pipe(
      Context.add(SocketClient, { connect })
    )
  }
)

/** A fresh network each time it is built. */
export const layer: Layer.Layer<SocketServer | SocketClient> = Layer.scopedContext(make)

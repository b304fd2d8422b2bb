/**
 * The serving half of a server, shared by the Node and in-memory transports: connections are held
 * until `serve` starts, each is handled in a fiber of its own, and all are drained and stopped together.
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import type { Connection } from "../../services/Connection.js"
import type { ServeOptions, ServerConnection, SocketServer } from "../../services/SocketServer.js"

export interface Acceptor<A> {
  /** Hands over a newly accepted connection; false once the server no longer accepts any. */
  readonly offer: (accepted: A) => boolean
  readonly serve: Context.Tag.Service<SocketServer>["serve"]
  readonly accepting: Context.Tag.Service<SocketServer>["accepting"]
}

// Mutable rather than a Ref: `offer` is called synchronously from platform callbacks.
type State<A> =
  | { readonly _tag: "Waiting"; readonly pending: Array<A> }
  | { readonly _tag: "Serving"; readonly accept: (accepted: A) => void }
  | { readonly _tag: "Stopped" }

export const make = <A>(transport: {
  /** Makes a connection of an accepted one, released when its handler returns. */
  readonly open: (accepted: A, options: ServeOptions) => Effect.Effect<Connection, never, Scope.Scope>
  /** Drops a connection that will never be served. */
  readonly discard: (accepted: A) => Effect.Effect<void>
  /** Stops new connections from arriving at all. */
  readonly stopListening: Effect.Effect<void>
}): Effect.Effect<Acceptor<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    let state: State<A> = { _tag: "Waiting", pending: [] }

    const offer = (accepted: A): boolean => {
      switch (state._tag) {
        case "Waiting":
          state.pending.push(accepted)
          return true
        case "Serving":
          state.accept(accepted)
          return true
        case "Stopped":
          return false
      }
    }

    const stop = Effect.suspend(() => {
      const pending = state._tag === "Waiting" ? state.pending : []
      state = { _tag: "Stopped" }
      return Effect.zipRight(transport.stopListening, Effect.forEach(pending, transport.discard, { discard: true }))
    })
    yield* Effect.addFinalizer(() => stop)

    const serve = <R>(
      handle: (connection: ServerConnection) => Effect.Effect<void, never, R>,
      options: ServeOptions
    ): Effect.Effect<never, never, R> =>
      Effect.scoped(Effect.gen(function*() {
        if (state._tag !== "Waiting") {
          return yield* Effect.dieMessage(`a server serves once (it is ${state._tag})`)
        }
        const handlers = yield* FiberSet.make<void, never>()
        const draining = yield* Deferred.make<void>()
        const runHandler = yield* FiberSet.runtime(handlers)<R>()

        // The connections being served, whose reads draining stops.
        let isDraining = false
        const serving = new Set<Connection>()
        const handleOne = (accepted: A) =>
          Effect.scoped(Effect.flatMap(transport.open(accepted, options), (connection) =>
            Effect.zipRight(
              Effect.acquireRelease(
                Effect.sync(() => serving.add(connection)),
                () => Effect.sync(() => serving.delete(connection))
              ),
              handle({
                ...connection,
                readDeadline: (after) => connection.readDeadline(isDraining ? 0 : after),
                draining: Deferred.await(draining),
                isDraining: Effect.sync(() => isDraining)
              }).pipe(
                Effect.catchAllCause((cause) =>
                  Cause.isInterruptedOnly(cause)
                    ? Effect.void
                    // Annotated here only: the handler's own lines carry the client as it chooses.
                    : Effect.annotateLogs(
                      Effect.logError("connection handler failed", cause),
                      "client",
                      connection.peer
                    )
                )
              )
            )))

        // Added after the FiberSet, so it runs before the FiberSet's own finalizer interrupts everyone.
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            yield* stop
            isDraining = true
            yield* Effect.forEach(serving, (connection) => connection.readDeadline(0), { discard: true })
            yield* Deferred.succeed(draining, undefined)
            const active = yield* FiberSet.size(handlers)
            if (active > 0) {
              yield* Effect.logInfo(`shutting down: waiting for ${active} connection(s) to finish`).pipe(
                Effect.annotateLogs("gracePeriod", Duration.format(options.gracePeriod))
              )
            }
            // Finalizers run uninterruptibly: the wait must be made interruptible for the timeout to end it.
            yield* Effect.timeoutOption(Effect.interruptible(FiberSet.awaitEmpty(handlers)), options.gracePeriod)
            yield* FiberSet.clear(handlers)
          })
        )

        const pending = state.pending
        state = {
          _tag: "Serving",
          accept: (accepted) => runHandler(handleOne(accepted))
        }
        pending.forEach(state.accept)
        return yield* Effect.never
      }))

    return { offer, serve, accepting: Effect.sync(() => state._tag === "Serving") }
  })

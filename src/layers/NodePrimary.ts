/**
 * The Primary of a worker process, over the IPC channel its primary forked it with (`process.send`).
 * A worker drains on the first SIGINT or SIGTERM and ignores the ones after it: a terminal's Ctrl-C
 * reaches the whole process group, and the primary forwards the signal too.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { Primary } from "../services/Primary.js"
import type { Figures } from "../services/Workers.js"
import { decodeFromPrimary, type FromWorker } from "./internal/workerMessages.js"

// Longer than the primary waits for each worker's figures, so that its answer comes before this gives up.
const GATHER_TIMEOUT = "3 seconds"

const send = (message: FromWorker) =>
  Effect.sync(() => {
    if (process.connected) process.send!(message, undefined, {}, (error) => void error)
  })

const ignore = () => {}

export const make = (index: number) =>
  Effect.gen(function*() {
    const gone = yield* Deferred.make<void>()
    const asks = yield* Queue.unbounded<number>()
    const gathering = new Map<number, Deferred.Deferred<ReadonlyArray<Figures>>>()
    let nextId = 0

    const onMessage = (raw: unknown) => {
      const decoded = decodeFromPrimary(raw)
      if (Option.isNone(decoded)) return
      const message = decoded.value
      if (message._tag === "AskFigures") return void Queue.unsafeOffer(asks, message.id)
      const waiting = gathering.get(message.id)
      if (waiting !== undefined) Deferred.unsafeDone(waiting, Exit.succeed(message.figures))
    }
    const onDisconnect = () => Deferred.unsafeDone(gone, Exit.void)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        process.on("message", onMessage)
        process.on("disconnect", onDisconnect)
        process.on("SIGINT", ignore)
        process.on("SIGTERM", ignore)
        if (!process.connected) onDisconnect()
      }),
      () =>
        Effect.sync(() => {
          process.off("message", onMessage)
          process.off("disconnect", onDisconnect)
          // The channel would keep the process alive once the server has stopped.
          if (process.connected) process.disconnect()
        })
    )

    return Primary.of({
      index,
      listening: (ports) => send({ _tag: "Listening", ...ports }),
      answer: (own) =>
        Queue.take(asks).pipe(
          Effect.flatMap((id) => Effect.flatMap(own, (figures) => send({ _tag: "Figures", id, figures }))),
          Effect.forever,
          Effect.forkScoped,
          Effect.asVoid
        ),
      gather: Effect.gen(function*() {
        const id = nextId++
        const answer = yield* Deferred.make<ReadonlyArray<Figures>>()
        gathering.set(id, answer)
        yield* send({ _tag: "Gather", id })
        return yield* Deferred.await(answer).pipe(
          Effect.timeoutOption(GATHER_TIMEOUT),
          Effect.map(Option.getOrElse((): ReadonlyArray<Figures> => [])),
          Effect.ensuring(Effect.sync(() => gathering.delete(id)))
        )
      }),
      gone: Deferred.await(gone)
    })
  })

export const layer = (index: number): Layer.Layer<Primary> => Layer.scoped(Primary, make(index))

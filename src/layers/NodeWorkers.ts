/**
 * Workers as processes: `child_process.fork` of the server's own entry point, with the same command
 * line, marked a worker by its settings in the environment, its output on the primary's, and the IPC
 * channel fork opens for the messages of workerMessages.ts.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { type ChildProcess, fork } from "node:child_process"
import {
  type Figures,
  type RunningWorker,
  WorkerExited,
  type WorkerPorts,
  Workers,
  type WorkerSettings
} from "../services/Workers.js"
import { decodeFromWorker, FIGURES_TIMEOUT, type FromPrimary, portsOf, WORKER_ENV } from "./internal/workerMessages.js"

export interface NodeWorkersOptions {
  /** The script the primary was started from (the built `dist/bin/server.js`): workers run the same. */
  readonly entry: string
  /** The command line after it, the same for every worker. */
  readonly args: ReadonlyArray<string>
}

const send = (child: ChildProcess, message: FromPrimary) =>
  Effect.sync(() => {
    // A worker that is gone takes no more messages; its exit is seen by its `exit` listener.
    if (child.connected) child.send(message, (error) => void error)
  })

const exitedOf = (code: number | null, signal: NodeJS.Signals | null) => new WorkerExited({ code, signal })

const start =
  (options: NodeWorkersOptions) => (settings: WorkerSettings, gather: Effect.Effect<ReadonlyArray<Figures>>) =>
    Effect.gen(function*() {
      const listening = yield* Deferred.make<WorkerPorts, WorkerExited>()
      const exited = yield* Deferred.make<WorkerExited>()
      const asked = new Map<number, Deferred.Deferred<Figures>>()
      const gathers = yield* Queue.unbounded<number>()
      let nextId = 0

      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          fork(options.entry, [...options.args], {
            env: { ...process.env, [WORKER_ENV]: JSON.stringify(settings) },
            stdio: ["ignore", "inherit", "inherit", "ipc"]
          })
        ),
        (child) =>
          Effect.suspend(() => {
            if (child.exitCode !== null || child.signalCode !== null) return Effect.void
            child.kill("SIGKILL")
            return Deferred.await(exited)
          })
      )
      yield* Effect.sync(() => {
        child.on("message", (raw) => {
          const decoded = decodeFromWorker(raw)
          if (Option.isNone(decoded)) return
          const message = decoded.value
          switch (message._tag) {
            case "Listening":
              return void Deferred.unsafeDone(listening, Exit.succeed(portsOf(message)))
            case "Gather":
              return void Queue.unsafeOffer(gathers, message.id)
            case "Figures": {
              const waiting = asked.get(message.id)
              if (waiting !== undefined) Deferred.unsafeDone(waiting, Exit.succeed(message.figures))
            }
          }
        })
        // A fork that could not start (no such entry point) is an exit too.
        child.on("error", () => {
          if (child.pid === undefined) Deferred.unsafeDone(exited, Exit.succeed(exitedOf(null, null)))
        })
        child.on("exit", (code, signal) => {
          const how = exitedOf(code, signal)
          Deferred.unsafeDone(listening, Exit.fail(how))
          Deferred.unsafeDone(exited, Exit.succeed(how))
        })
      })
      // Its requests for every worker's figures, each answered on its own fiber.
      yield* Queue.take(gathers).pipe(
        Effect.flatMap((id) =>
          Effect.forkScoped(
            Effect.flatMap(gather, (figures) => send(child, { _tag: "Gathered", id, figures: [...figures] }))
          )
        ),
        Effect.forever,
        Effect.forkScoped
      )

      // None from a worker that exits before it answers, or does not answer in time.
      const figures = Effect.gen(function*() {
        const id = nextId++
        const answer = yield* Deferred.make<Figures>()
        asked.set(id, answer)
        yield* send(child, { _tag: "AskFigures", id })
        return yield* Effect.raceFirst(
          Effect.asSome(Deferred.await(answer)),
          Effect.as(Deferred.await(exited), Option.none<Figures>())
        ).pipe(
          Effect.timeoutOption(FIGURES_TIMEOUT),
          Effect.map(Option.flatten),
          Effect.ensuring(Effect.sync(() => asked.delete(id)))
        )
      })

      return {
        pid: child.pid ?? 0,
        listening: Deferred.await(listening),
        exited: Deferred.await(exited),
        figures,
        signal: (signal) => Effect.sync(() => void child.kill(signal))
      } satisfies RunningWorker
    })

export const layer = (options: NodeWorkersOptions): Layer.Layer<Workers> =>
  Layer.succeed(Workers, Workers.of({ start: start(options) }))

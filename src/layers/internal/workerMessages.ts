/**
 * The messages between the primary and its workers, over the IPC channel `child_process.fork` opens,
 * checked on arrival like anything else read from outside the process.
 */
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { WorkerPorts } from "../../services/Workers.js"

/** The environment variable that makes a process a worker: its settings, as JSON. */
export const WORKER_ENV = "FERRY_WORKER"

const FiguresSchema = Schema.Record({ key: Schema.String, value: Schema.Number })
const Port = Schema.Int.pipe(Schema.between(0, 65535))

export const WorkerSettingsSchema = Schema.Struct({
  index: Schema.Int.pipe(Schema.nonNegative()),
  port: Port,
  metricsPort: Schema.optional(Port),
  httpPort: Schema.optional(Port),
  cacheSize: Schema.Int.pipe(Schema.positive()),
  streamBuffers: Schema.Int.pipe(Schema.positive())
})

/** From a worker: where it listens, a request for every worker's figures, its own figures as asked. */
const FromWorker = Schema.Union(
  Schema.TaggedStruct("Listening", {
    port: Port,
    metricsPort: Schema.optional(Port),
    httpPort: Schema.optional(Port)
  }),
  Schema.TaggedStruct("Gather", { id: Schema.Int }),
  Schema.TaggedStruct("Figures", { id: Schema.Int, figures: FiguresSchema })
)
export type FromWorker = typeof FromWorker.Type

/** From the primary: a request for the worker's figures, every worker's figures as the worker asked. */
const FromPrimary = Schema.Union(
  Schema.TaggedStruct("AskFigures", { id: Schema.Int }),
  Schema.TaggedStruct("Gathered", { id: Schema.Int, figures: Schema.Array(FiguresSchema) })
)
export type FromPrimary = typeof FromPrimary.Type

export const decodeFromWorker: (message: unknown) => Option.Option<FromWorker> = Schema.decodeUnknownOption(
  FromWorker
)
export const decodeFromPrimary: (message: unknown) => Option.Option<FromPrimary> = Schema.decodeUnknownOption(
  FromPrimary
)

/** A Listening message's ports, without the tag. */
export const portsOf = (message: Extract<FromWorker, { _tag: "Listening" }>): WorkerPorts => ({
  port: message.port,
  metricsPort: message.metricsPort,
  httpPort: message.httpPort
})

/** How long the primary waits for a worker's figures before it leaves them out. */
export const FIGURES_TIMEOUT = "2 seconds"

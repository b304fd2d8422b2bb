/**
 * `--workers N` on the command line: what the primary tells each worker (its ports, counting up from
 * the ones given, and its share of the memory), and how a worker knows itself from its environment.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { formatBytes } from "../format/ByteSize.js"
import { WORKER_ENV, WorkerSettingsSchema } from "../layers/internal/workerMessages.js"
import type { WorkerSettings } from "../services/Workers.js"

interface Address {
  readonly host: string
  readonly port: number
}

export interface WorkerPlanArgs {
  readonly port: number
  readonly cacheSize: number
  readonly streamBuffers: number
  readonly metrics: Option.Option<Address>
  readonly http: Option.Option<Address>
}

// Each worker's stream buffers are at least the smallest --stream-buffers one process may have.
const MIN_STREAM_BUFFERS = 2 ** 20

/** The i-th of `count` ports from `first` (all 0 when it is 0: each worker then picks its own), or why not. */
const portsFrom = (option: string, first: number, count: number): Either.Either<ReadonlyArray<number>, string> =>
  first !== 0 && first + count - 1 > 65535
    ? Either.left(`${option} ${first} with --workers ${count} would need ports up to ${first + count - 1}`)
    : Either.right(Array.from({ length: count }, (_, i) => first === 0 ? 0 : first + i))

/** Each worker's settings, or why the command line cannot have `count` workers. */
export const planWorkers = (
  args: WorkerPlanArgs,
  count: number
): Either.Either<ReadonlyArray<WorkerSettings>, string> =>
  Either.gen(function*() {
    const ports = yield* portsFrom("PORT", args.port, count)
    const metrics = yield* Option.match(args.metrics, {
      onNone: () => Either.right(undefined),
      onSome: ({ port }) => portsFrom("--metrics port", port, count)
    })
    const http = yield* Option.match(args.http, {
      onNone: () => Either.right(undefined),
      onSome: ({ port }) => portsFrom("--http port", port, count)
    })
    const cacheSize = Math.floor(args.cacheSize / count)
    if (cacheSize < 1) {
      return yield* Either.left(`--cache-size ${formatBytes(args.cacheSize)} is less than a byte a worker`)
    }
    const streamBuffers = Math.max(MIN_STREAM_BUFFERS, Math.floor(args.streamBuffers / count))
    return ports.map((port, index) => ({
      index,
      port,
      metricsPort: metrics?.[index],
      httpPort: http?.[index],
      cacheSize,
      streamBuffers
    }))
  })

const decodeSettings = Schema.decodeUnknownEither(Schema.parseJson(WorkerSettingsSchema))

/**
 * This process's settings if the primary started it as a worker (none for a server of its own), or
 * why they cannot be read.
 */
export const workerFromEnvironment = (): Either.Either<Option.Option<WorkerSettings>, string> => {
  const text = process.env[WORKER_ENV]
  if (text === undefined) return Either.right(Option.none())
  return Either.match(decodeSettings(text), {
    onLeft: () => Either.left(`${WORKER_ENV} is set but is not a worker's settings`),
    onRight: (settings) => Either.right(Option.some(settings))
  })
}

/** The command line's options as worker `settings` says: its ports (where counted up) and its memory. */
export const asWorker = <A extends WorkerPlanArgs>(args: A, settings: WorkerSettings): A => ({
  ...args,
  port: settings.port,
  cacheSize: settings.cacheSize,
  streamBuffers: settings.streamBuffers,
  metrics: Option.map(args.metrics, (address) => ({ ...address, port: settings.metricsPort ?? address.port })),
  http: Option.map(args.http, (address) => ({ ...address, port: settings.httpPort ?? address.port }))
})

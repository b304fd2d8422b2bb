/** The replay tool's command line, parsed by hand: a handful of options, no subcommands. */
import * as Either from "effect/Either"
import { DEFAULT_POLICY, isPolicyName, POLICY_NAMES, type PolicyName } from "../../src/cache/policies.js"
import { parseBytes } from "../../src/format/ByteSize.js"

export const USAGE =
  `usage: npm run replay -- TRACE --sizes 128MiB,256MiB,... [--policy P[,P...]] [--nodes 1,2,4 [--plot FILE]]
       npm run replay -- --synthetic [--percents 1,5,10] [--policy P[,P...]] [--nodes 1,2,4 [--plot FILE]]

Replays an oracleGeneral trace (or the synthetic workloads) through the cache and prints, per
cache size, the misses and the byte misses (synthetic: workload, percent of the popular files'
bytes, capacity, misses, byte misses). Policies: ${POLICY_NAMES.join(", ")} (default ${DEFAULT_POLICY}).

With --nodes, the requests are routed by the client's ring over N caches of each size (synthetic:
each the percentage given), for each N: hit ratio, byte hit ratio, the busiest node's requests and
bytes over the mean's, and with the last node removed halfway, the share of names that moved and
the hit ratio in the tenth of the requests before and after the middle, kept and removed.
--plot FILE also writes those figures as an SVG chart (vega-lite).`

export type Args =
  | { readonly _tag: "Help" }
  | {
    readonly _tag: "Trace"
    readonly path: string
    readonly sizes: ReadonlyArray<{ readonly text: string; readonly bytes: number }>
    readonly policies: ReadonlyArray<PolicyName>
    readonly ring?: RingArgs
  }
  | {
    readonly _tag: "Synthetic"
    readonly percents: ReadonlyArray<number>
    readonly policies: ReadonlyArray<PolicyName>
    readonly ring?: RingArgs
  }

/** `--nodes` (and `--plot`): the ring simulation instead of the single cache. */
export interface RingArgs {
  readonly nodes: ReadonlyArray<number>
  readonly plot?: string
}

const list = (text: string) => text.split(",").map((item) => item.trim()).filter((item) => item.length > 0)

export const parseArgs = (argv: ReadonlyArray<string>): Either.Either<Args, string> => {
  const positional: Array<string> = []
  const options = new Map<string, string>()
  let synthetic = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h") return Either.right({ _tag: "Help" })
    if (arg === "--synthetic") synthetic = true
    else if (arg === "--policy" || arg === "--sizes" || arg === "--percents" || arg === "--nodes" || arg === "--plot") {
      const value = argv[++i]
      if (value === undefined) return Either.left(`${arg} needs a value`)
      options.set(arg, value)
    } else if (arg.startsWith("--")) return Either.left(`unknown option ${arg}`)
    else positional.push(arg)
  }

  const named = list(options.get("--policy") ?? DEFAULT_POLICY)
  const unknown = named.find((name) => !isPolicyName(name))
  if (unknown !== undefined) return Either.left(`unknown policy "${unknown}": use one of ${POLICY_NAMES.join(", ")}`)
  const policies = named.filter(isPolicyName)
  if (policies.length === 0) return Either.left("--policy needs at least one policy")

  const nodesText = options.get("--nodes")
  const nodes = nodesText === undefined ? [] : list(nodesText).map(Number)
  if (nodesText !== undefined && nodes.length === 0) return Either.left("--nodes needs at least one ring size")
  if (nodes.some((n) => !(Number.isInteger(n) && n >= 1 && n <= 256))) {
    return Either.left("--nodes takes ring sizes, whole numbers from 1 to 256")
  }
  const plot = options.get("--plot")
  if (plot !== undefined && nodesText === undefined) return Either.left("--plot goes with --nodes")
  const ring = nodesText === undefined
    ? {}
    : { ring: { nodes, ...(plot === undefined ? {} : { plot }) } satisfies RingArgs }

  if (synthetic) {
    if (positional.length > 0) return Either.left("--synthetic takes no trace")
    const percents = list(options.get("--percents") ?? "1,5,10").map(Number)
    if (percents.some((percent) => !(percent > 0 && percent <= 100))) {
      return Either.left("--percents takes percentages of the distinct bytes, above 0 and at most 100")
    }
    return Either.right({ _tag: "Synthetic", percents, policies, ...ring })
  }

  if (positional.length !== 1) return Either.left("give one trace file (or --synthetic)")
  const sizesText = options.get("--sizes")
  if (sizesText === undefined) return Either.left("--sizes is required with a trace")
  const sizes: Array<{ text: string; bytes: number }> = []
  for (const text of list(sizesText)) {
    const bytes = parseBytes(text)
    if (Either.isLeft(bytes)) return Either.left(bytes.left)
    if (bytes.right <= 0) return Either.left(`cache size ${text} must be positive`)
    sizes.push({ text, bytes: bytes.right })
  }
  if (sizes.length === 0) return Either.left("--sizes needs at least one size")
  return Either.right({ _tag: "Trace", path: positional[0]!, sizes, policies, ...ring })
}

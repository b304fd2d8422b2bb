/** The eviction policies the cache can run, by the names `--cache-policy` and the replay tool take. */
import { clock } from "./Clock.js"
import type { PolicyFactory } from "./EvictionPolicy.js"
import { fifo } from "./Fifo.js"
import { lirsGds } from "./LirsGds.js"
import { lru } from "./Lru.js"
import { s3fifo } from "./S3Fifo.js"
import { sieve } from "./Sieve.js"

export const POLICIES = {
  "lirs-gds": lirsGds,
  lru,
  fifo,
  clock,
  sieve,
  "s3-fifo": s3fifo
} as const satisfies Record<string, PolicyFactory>

export type PolicyName = keyof typeof POLICIES

export const DEFAULT_POLICY: PolicyName = "lirs-gds"

export const POLICY_NAMES = Object.keys(POLICIES) as [PolicyName, ...Array<PolicyName>]

export const isPolicyName = (name: string): name is PolicyName => Object.hasOwn(POLICIES, name)

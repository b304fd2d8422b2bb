/**
 * The digests a file transfer can be checked with (docs/PROTOCOL.md, section 9): their wire ids and
 * lengths, and streaming hashers for them. XXH3-128 is the default: 128 bits, non-cryptographic, as
 * rsync negotiates for its whole-file check, and about ten times SHA-256's speed here (native code
 * from `xxhash-addon`, 13-15 GiB/s on one core, against 1.5 GiB/s for `node:crypto`'s SHA-256).
 */
import { createHash } from "node:crypto"
import { createRequire } from "node:module"

export const DIGESTS = {
  "xxh3-128": { id: 1, bytes: 16 },
  sha256: { id: 2, bytes: 32 }
} as const

export type Digest = keyof typeof DIGESTS

/** In order of preference: what a client offers when not told otherwise. */
export const DIGEST_NAMES: ReadonlyArray<Digest> = ["xxh3-128", "sha256"]

export const digestOfId = (id: number): Digest | undefined => DIGEST_NAMES.find((name) => DIGESTS[name].id === id)

export interface Hasher {
  readonly update: (bytes: Uint8Array) => void
  readonly digest: () => Uint8Array
}

interface NativeHash {
  update(bytes: Uint8Array): void
  digest(): Buffer
}

// Loaded on first use: a command that hashes nothing (`--help`, `list`) does not pay for the addon.
let xxh3: (new(seed: Uint8Array) => NativeHash) | undefined
const SEED = new Uint8Array(8)

const newXxh3 = (): NativeHash => {
  xxh3 ??= (createRequire(import.meta.url)("xxhash-addon") as { XXHash128: typeof xxh3 }).XXHash128!
  return new xxh3(SEED)
}

/** Why a digest cannot be computed here (its native code did not load), if one cannot. */
export const unavailableDigest = (): string | undefined => {
  for (const digest of DIGEST_NAMES) {
    try {
      hasher(digest).digest()
    } catch (cause) {
      return `cannot compute ${digest} digests (${cause instanceof Error ? cause.message : String(cause)}): ` +
        "reinstall ferry's dependencies with npm ci"
    }
  }
  return undefined
}

/** A hasher for `digest`, fed bytes as they come. */
export const hasher = (digest: Digest): Hasher => {
  const hash = digest === "sha256" ? createHash("sha256") : newXxh3()
  return {
    update: (bytes) => void hash.update(bytes),
    digest: () => new Uint8Array(hash.digest())
  }
}

/** Byte counts as people write them (`64MiB`, `512k`, `1g`) and as they like to read them. */
import * as Either from "effect/Either"

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const

// Every multiple is binary: `k`, `kb` and `kib` all mean 1024, as with most servers' size options.
const MULTIPLIERS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 2 ** 10,
  kb: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mb: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gb: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tb: 2 ** 40,
  tib: 2 ** 40
}

const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i

/** Parses a size such as `64MiB`, `512k`, `1.5g` or `1048576` into a whole number of bytes. */
export const parseBytes = (text: string): Either.Either<number, string> => {
  const match = PATTERN.exec(text)
  const multiplier = match === null ? undefined : MULTIPLIERS[match[2]!.toLowerCase()]
  if (match === null || multiplier === undefined) {
    return Either.left(`"${text}" is not a size: use a number with an optional unit, like 64MiB, 512k or 1g`)
  }
  const bytes = Math.floor(Number(match[1]) * multiplier)
  return Number.isSafeInteger(bytes) ? Either.right(bytes) : Either.left(`"${text}" is too large`)
}

/** `1536` → `1.5 KiB`: three significant digits at most, binary units. */
export const formatBytes = (bytes: number): string => {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  if (unit === 0) return `${bytes} B`
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${Number(value.toFixed(digits))} ${UNITS[unit]}`
}

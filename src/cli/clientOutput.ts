/** What the client prints on success: listings and statistics on stdout, as text or JSON. */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { formatBytes } from "../format/ByteSize.js"
import { printable, printableJson } from "../format/Printable.js"
import type { ListingEntry } from "../protocol/Codec.js"

/** One file a line, sorted by name, names padded so that sizes line up. */
export const printListing = (entries: ReadonlyArray<ListingEntry>, asJson: boolean) => {
  const sorted = [...entries].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  if (asJson) return Console.log(printableJson(sorted))
  const names = sorted.map((entry) => printable(entry.name))
  const width = Math.max(0, ...names.map((shown) => shown.length))
  return Effect.forEach(sorted, (entry, i) => Console.log(`${names[i]!.padEnd(width)}  ${formatBytes(entry.size)}`), {
    discard: true
  })
}

const formatSeconds = (seconds: number): string => {
  const s = Math.floor(seconds)
  const units: ReadonlyArray<readonly [number, string]> = [
    [Math.floor(s / 86400), "d"],
    [Math.floor(s / 3600) % 24, "h"],
    [Math.floor(s / 60) % 60, "m"]
  ]
  return [...units.filter(([value]) => value > 0).map(([value, unit]) => `${value}${unit}`), `${s % 60}s`].join(" ")
}

const formatStat = (name: string, value: number): string => {
  if (name === "uptimeSeconds") return formatSeconds(value)
  if (/bytes/i.test(name)) return `${formatBytes(value)} (${value})`
  return String(value)
}

/** One statistic a line, in the server's order, byte counts and the uptime made readable. */
export const printStats = (stats: Readonly<Record<string, number>>, asJson: boolean) => {
  if (asJson) return Console.log(printableJson(stats))
  const names = Object.keys(stats).map(printable)
  const width = Math.max(0, ...names.map((name) => name.length))
  return Effect.forEach(
    Object.entries(stats),
    ([name, value], i) => Console.log(`${names[i]!.padEnd(width)}  ${formatStat(name, value)}`),
    { discard: true }
  )
}

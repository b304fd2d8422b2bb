/** What the client prints on success: listings and statistics on stdout, as text or JSON. */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { formatBytes } from "../format/ByteSize.js"
import { printable, printableJson } from "../format/Printable.js"
import type { FileFacts, ListingEntry, TreeEntry } from "../protocol/Codec.js"

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

const SIZE_WIDTH = 10

/** A modification time as `2026-12-02 04:41`, in UTC: the same for every reader of a log. */
const formatTime = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace("T", " ")

/** LS as text: one entry a line, type, size and time in fixed columns, so lines align as they stream. */
export const printTreeEntries = (entries: ReadonlyArray<TreeEntry>) =>
  entries.length === 0 ? Effect.void : Console.log(
    entries.map((entry) => {
      const size = entry.type === "directory" ? "-" : formatBytes(entry.size)
      const path = printable(entry.path) + (entry.type === "directory" ? "/" : "")
      return `${entry.type === "directory" ? "d" : "-"}  ${size.padStart(SIZE_WIDTH)}  ${
        formatTime(entry.mtimeMs)
      }  ${path}`
    }).join("\n")
  )

/** LS as JSON: one document, `{"entries":[...]}`, written as the entries arrive. */
export const treeJson = () => {
  let first = true
  const entryJson = (entry: TreeEntry) =>
    printableJson({
      path: entry.path,
      type: entry.type,
      size: entry.size,
      mtime: new Date(entry.mtimeMs).toISOString()
    })
  return {
    start: Effect.sync(() => process.stdout.write(`{"entries":[`)),
    entries: (entries: ReadonlyArray<TreeEntry>) =>
      Effect.sync(() => {
        if (entries.length === 0) return
        process.stdout.write(`${first ? "" : ","}\n  ${entries.map(entryJson).join(",\n  ")}`)
        first = false
      }),
    end: Effect.sync(() => process.stdout.write(`${first ? "" : "\n"}]}\n`))
  }
}

/** STAT: the file's facts, as text lines or one JSON object. */
export const printFacts = (name: string, facts: FileFacts, asJson: boolean) => {
  const digest = Buffer.from(facts.value).toString("hex")
  const version = Buffer.from(facts.version).toString("hex")
  const mtime = new Date(facts.mtimeMs).toISOString()
  if (asJson) {
    return Console.log(printableJson({ name, size: facts.size, mtime, version, digest: { [facts.digest]: digest } }))
  }
  return Console.log([
    `name      ${printable(name)}`,
    `size      ${formatBytes(facts.size)} (${facts.size})`,
    `modified  ${mtime}`,
    `${facts.digest.padEnd(8)}  ${digest}`,
    `version   ${version}`
  ].join("\n"))
}

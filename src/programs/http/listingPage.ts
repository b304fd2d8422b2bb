/**
 * A directory's listing over HTTP: a plain, accessible HTML page for browsers (a table of names as
 * links, sizes and dates, a link to the parent) or, for a client that prefers it, JSON: an array of
 * `{ name, type, size, mtime }`, `mtime` in ISO 8601.
 */
import { formatBytes } from "../../format/ByteSize.js"
import { escapeUnsafe } from "../../format/Printable.js"
import type { DirEntry } from "../../services/FileStore.js"
import { hrefOf } from "./names.js"

export const HTML_TYPE = "text/html; charset=utf-8"
export const JSON_TYPE = "application/json"

/** The quality an `Accept` header gives a media type: from its most specific matching range. */
const qualityOf = (accept: string, type: string): number => {
  const [major] = type.split("/")
  let best = { specificity: -1, q: 0 }
  for (const range of accept.split(",")) {
    const [media = "", ...parameters] = range.split(";").map((part) => part.trim().toLowerCase())
    const specificity = media === type ? 2 : media === `${major}/*` ? 1 : media === "*/*" ? 0 : -1
    if (specificity <= best.specificity) continue
    const q = parameters.find((parameter) => parameter.startsWith("q="))
    best = { specificity, q: q === undefined ? 1 : Number(q.slice(2)) || 0 }
  }
  return best.q
}

/** Whether the client would rather have JSON than HTML: browsers never do, `Accept: application/json` does. */
export const prefersJson = (accept: string | undefined): boolean =>
  accept !== undefined && qualityOf(accept, "application/json") > qualityOf(accept, "text/html")

const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1)

export const listingJson = (entries: ReadonlyArray<DirEntry>): string =>
  escapeUnsafe(JSON.stringify(entries.map((entry) => ({
    name: baseName(entry.path),
    type: entry.type,
    size: entry.size,
    mtime: new Date(entry.mtimeMs).toISOString()
  }))))

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  "\"": "&quot;",
  "'": "&#39;"
}
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => ESCAPES[char]!)

/** `2026-01-31 14:05 UTC`: the same on every server, whatever its time zone. */
const shownDate = (millis: number) => `${new Date(millis).toISOString().slice(0, 16).replace("T", " ")} UTC`

const row = (entry: DirEntry) => {
  const directory = entry.type === "directory"
  const name = `${baseName(entry.path)}${directory ? "/" : ""}`
  const size = directory
    ? "<td>—</td>"
    : `<td data-bytes="${entry.size}" title="${entry.size} bytes">${formatBytes(entry.size)}</td>`
  const iso = new Date(entry.mtimeMs).toISOString()
  return `<tr><td><a href="${escapeHtml(hrefOf(entry.path, directory))}">${escapeHtml(name)}</a></td>${size}` +
    `<td><time datetime="${iso}">${shownDate(entry.mtimeMs)}</time></td></tr>`
}

/** The page for the directory at `path` ("" for the served directory). */
export const listingHtml = (path: string, entries: ReadonlyArray<DirEntry>): string => {
  const title = `Index of ${escapeHtml(path === "" ? "/" : `/${path}/`)}`
  const parent = path === "" ? "" : path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ""
  const up = path === ""
    ? ""
    : `<tr><td><a href="${escapeHtml(hrefOf(parent, true))}">../</a> (parent directory)</td><td></td><td></td></tr>\n`
  const count = `${entries.length} ${entries.length === 1 ? "entry" : "entries"}`
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}` +
    `th,td{padding:.2rem 1rem;text-align:left}td[data-bytes]{text-align:right}</style>
</head>
<body>
<main>
<h1>${title}</h1>
<table>
<caption>${count}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Modified</th></tr></thead>
<tbody>
${up}${entries.map(row).join("\n")}
</tbody>
</table>
</main>
</body>
</html>
`
}

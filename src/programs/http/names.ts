/**
 * From an HTTP request-target to what it names: a file, a directory's listing (a trailing `/`), or
 * nothing that can exist. Each segment is percent-decoded on its own, strictly (valid escapes, valid
 * UTF-8, no overlong forms), so `%2f` never becomes a separator and `%2e%2e` is `..`, which the
 * served names refuse; the query is ignored.
 */
import { isAcceptableName } from "../../services/FileName.js"

export type Target =
  /** A served name, as the native protocol spells it. */
  | { readonly _tag: "File"; readonly name: string }
  /** A directory to list: "" for the served directory itself. */
  | { readonly _tag: "Directory"; readonly path: string }
  /**
   * Nothing that can exist, answered as a missing file; `name` is the best reading of it, for the
   * token check, which must refuse it as it would refuse a missing file.
   */
  | { readonly _tag: "Hostile"; readonly name: string }

// An absolute-form target (as sent to a proxy) names the path after its authority.
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i

/** The path of a request-target, without its query, or undefined for a form that names no path (`*`). */
export const pathOf = (target: string): string | undefined => {
  const absolute = ABSOLUTE.exec(target)
  const path = (absolute === null ? target : target.slice(absolute[0].length)).replace(/[?#].*$/s, "")
  if (absolute !== null && path === "") return "/"
  return path.startsWith("/") ? path : undefined
}

const decodeSegment = (segment: string): string | undefined => {
  try {
    // decodeURIComponent refuses invalid escapes and invalid (overlong, surrogate) UTF-8.
    const decoded = decodeURIComponent(segment)
    return decoded.includes("/") ? undefined : decoded
  } catch {
    return undefined
  }
}

export const resolveTarget = (target: string): Target => {
  const path = pathOf(target)
  if (path === undefined) return { _tag: "Hostile", name: target }
  if (path === "/") return { _tag: "Directory", path: "" }
  const directory = path.endsWith("/")
  const segments = path.slice(1, directory ? -1 : undefined).split("/")
  const decoded = segments.map(decodeSegment)
  const name = decoded.map((segment, i) => segment ?? segments[i]).join("/")
  if (decoded.some((segment) => segment === undefined)) return { _tag: "Hostile", name }
  if (!isAcceptableName(name)) return { _tag: "Hostile", name }
  return directory ? { _tag: "Directory", path: name } : { _tag: "File", name }
}

/** A served name as a URL path: each segment percent-encoded, so any name round-trips. */
export const hrefOf = (name: string, directory = false): string =>
  `/${name.split("/").map(encodeURIComponent).join("/")}${directory && name !== "" ? "/" : ""}`

/**
 * A file's Content-Type from its extension, by the `mime` package (the IANA and Apache types, kept
 * by its maintainers); `application/octet-stream` for the rest, so browsers download what they
 * cannot show. Text is labelled UTF-8, which it is for all but old files.
 */
import mime from "mime"

export const OCTET_STREAM = "application/octet-stream"

export const contentTypeOf = (name: string): string => {
  const type = mime.getType(name.slice(name.lastIndexOf("/") + 1))
  if (type === null) return OCTET_STREAM
  return type.startsWith("text/") || type === "application/javascript" ? `${type}; charset=utf-8` : type
}

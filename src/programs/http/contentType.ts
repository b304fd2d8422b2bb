/**
 * A file's Content-Type from its extension: a small table of the common types (no MIME package is a
 * dependency), `application/octet-stream` for the rest, so browsers download what they cannot show.
 * Text is labelled UTF-8, which it is for all but old files.
 */

const TYPES: Readonly<Record<string, string>> = {
  // Text
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  xml: "application/xml",
  yaml: "application/yaml",
  yml: "application/yaml",
  // Images
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  svg: "image/svg+xml",
  ico: "image/vnd.microsoft.icon",
  // Audio and video
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  flac: "audio/flac",
  mp4: "video/mp4",
  webm: "video/webm",
  mkv: "video/x-matroska",
  // Documents and fonts
  pdf: "application/pdf",
  wasm: "application/wasm",
  woff: "font/woff",
  woff2: "font/woff2",
  // Archives and packages
  zip: "application/zip",
  gz: "application/gzip",
  tgz: "application/gzip",
  bz2: "application/x-bzip2",
  xz: "application/x-xz",
  zst: "application/zstd",
  tar: "application/x-tar",
  "7z": "application/x-7z-compressed",
  deb: "application/vnd.debian.binary-package",
  rpm: "application/x-rpm",
  iso: "application/x-iso9660-image"
}

export const OCTET_STREAM = "application/octet-stream"

export const contentTypeOf = (name: string): string => {
  const base = name.slice(name.lastIndexOf("/") + 1)
  const dot = base.lastIndexOf(".")
  return dot <= 0 ? OCTET_STREAM : TYPES[base.slice(dot + 1).toLowerCase()] ?? OCTET_STREAM
}

/**
 * The ferry wire format, version 2, as specified in docs/PROTOCOL.md: the encoding of every message,
 * and its decoding from a ByteReader with every field checked against the specification's limits.
 */
export * from "./codec/common.js"
export * from "./codec/files.js"
export * from "./codec/listings.js"
export * from "./codec/requests.js"
export * from "./codec/responses.js"

/**
 * A file's version as the wire names it (16 opaque bytes): what a client resuming a download says it
 * holds, compared byte for byte with what the file is now. Derived from the same facts that decide
 * whether a cache entry is current (device, inode, size, modification time), hashed so that the
 * client learns nothing of the server's file system.
 */
import { createHash } from "node:crypto"
import * as Codec from "../../protocol/Codec.js"
import type { FileInfo } from "../../services/FileStore.js"

// A hit asks for the version of an entry's info again and again: computed once per info.
const known = new WeakMap<FileInfo, Uint8Array>()

export const fileVersion = (info: FileInfo): Uint8Array => {
  let version = known.get(info)
  if (version === undefined) {
    const facts = Buffer.allocUnsafe(32)
    facts.writeBigUInt64BE(BigInt.asUintN(64, info.dev), 0)
    facts.writeBigUInt64BE(BigInt.asUintN(64, info.ino), 8)
    facts.writeBigUInt64BE(BigInt(info.size), 16)
    facts.writeBigUInt64BE(BigInt.asUintN(64, info.mtimeNs), 24)
    version = createHash("sha256").update(facts).digest().subarray(0, Codec.FILE_VERSION_BYTES)
    // All zeros says "no version" on the wire: never announce it.
    if (Codec.isNoVersion(version)) version[0] = 1
    known.set(info, version)
  }
  return version
}

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((byte, i) => byte === b[i])

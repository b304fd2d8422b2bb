/**
 * `Repr-Digest` (RFC 9530): the SHA-256 of the whole file, sent when the client asks for it with
 * `Want-Repr-Digest` or when the cache already knows it, for free.
 */

/**
 * Whether `Want-Repr-Digest` (a dictionary of algorithms and weights, 0 to 10) asks for sha-256:
 * listed with a weight above 0 (a bare key is `true`, taken as a wish).
 */
export const wantsSha256 = (header: string | undefined): boolean =>
  header !== undefined && header.split(",").some((member) => {
    const [key = "", value] = member.split(";")[0]!.split("=", 2).map((part) => part.trim())
    if (key.toLowerCase() !== "sha-256") return false
    return value === undefined || value === "?1" || Number(value) > 0
  })

/** The header's value for a SHA-256 digest: a structured-field byte sequence. */
export const reprDigest = (sha256: Uint8Array): string => `sha-256=:${Buffer.from(sha256).toString("base64")}:`

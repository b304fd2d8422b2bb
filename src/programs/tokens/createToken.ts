/**
 * Making a token: a new random secret, its hash and grant appended to the tokens file (created with
 * mode 0600 when there is none), the secret itself returned to be shown once and never stored.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as fsp from "node:fs/promises"
import { read } from "../../layers/NodeTokens.js"
import { type Grant, TokensError } from "../../services/Tokens.js"
import { hashToken, newToken } from "../../tokens/secret.js"
import { formatGrant, HEADER } from "../../tokens/tokensFile.js"

/** A token's grant, less its hash: what the operator asks for. */
export type Wanted = Omit<Grant, "hash">

/** The label is taken already: a label names one token in the log. */
export class LabelTaken extends Data.TaggedError("LabelTaken")<{ readonly label: string }> {
  override get message(): string {
    return `label ${this.label} is taken in the tokens file`
  }
}

const writeError = (path: string) => (cause: unknown) => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  const detail = code === "ENOENT"
    ? "its directory does not exist"
    : code === "EACCES"
    ? "permission denied"
    : code === "EEXIST"
    ? "another made it meanwhile: try again"
    : cause instanceof Error
    ? cause.message
    : String(cause)
  return new TokensError({ reason: "Unwritable", path, detail })
}

/** Appends `text` to `path`, creating it (`wx`: not if it appeared meanwhile) with mode 0600 when `create`. */
const append = (path: string, text: string, create: boolean) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => fsp.open(path, create ? "wx" : "a", 0o600), catch: writeError(path) }),
    (handle) =>
      Effect.tryPromise({
        try: async () => {
          // The umask may have taken bits away; the mode must be exactly this.
          if (create) await handle.chmod(0o600)
          await handle.appendFile(text, "utf8")
          await handle.sync()
        },
        catch: writeError(path)
      }),
    (handle) => Effect.promise(() => handle.close())
  )

/**
 * A new token for `wanted`, its line appended to the tokens file at `path`; fails if the file is
 * unsafe or malformed (as the server would refuse it), or already holds `wanted.label`.
 */
export const createToken = (path: string, wanted: Wanted) =>
  Effect.gen(function*() {
    const existing = yield* read(path).pipe(
      Effect.map((file) => ({ ...file, created: false })),
      Effect.catchIf(
        (error) => error.reason === "Missing",
        () => Effect.succeed({ text: "", table: { grants: [], source: path }, created: true })
      )
    )
    if (existing.table.grants.some((grant) => grant.label === wanted.label)) {
      return yield* new LabelTaken({ label: wanted.label })
    }
    const token = newToken()
    const line = formatGrant({ ...wanted, hash: hashToken(token) })
    const before = existing.created ? HEADER : existing.text === "" || existing.text.endsWith("\n") ? "" : "\n"
    yield* append(path, `${before}${line}\n`, existing.created)
    return { token, created: existing.created }
  })

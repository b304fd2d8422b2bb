/**
 * The live Tokens: a tokens file, refused when group or others may read or write it, read again on
 * SIGHUP without touching a connection. A file that has become unusable is not taken: the tokens in
 * force stay, and a warning says why.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as fsp from "node:fs/promises"
import { Tokens, TokensError, type TokenTable } from "../services/Tokens.js"
import { parseTokens } from "../tokens/tokensFile.js"

/** Read and write bits for group and others: a file of secrets has none of them. */
const SHARED = 0o066

const unreadable = (path: string) => (cause: unknown) => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  if (code === "ENOENT") return new TokensError({ reason: "Missing", path, detail: "no such file" })
  const detail = code === "EACCES" ? "permission denied" : cause instanceof Error ? cause.message : String(cause)
  return new TokensError({ reason: "Unreadable", path, detail })
}

/**
 * The file's text and its tokens, checked through the handle they are read from: what is checked
 * is what is read.
 */
export const read = (path: string): Effect.Effect<{ readonly text: string; readonly table: TokenTable }, TokensError> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => fsp.open(path, "r"), catch: unreadable(path) }),
    (handle) =>
      Effect.gen(function*() {
        const stats = yield* Effect.tryPromise({ try: () => handle.stat(), catch: unreadable(path) })
        if (!stats.isFile()) return yield* new TokensError({ reason: "Unreadable", path, detail: "not a file" })
        if ((stats.mode & SHARED) !== 0) {
          const mode = (stats.mode & 0o777).toString(8).padStart(4, "0")
          return yield* new TokensError({
            reason: "Unsafe",
            path,
            detail: `is readable or writable by group or others (mode ${mode})`
          })
        }
        const text = yield* Effect.tryPromise({ try: () => handle.readFile("utf8"), catch: unreadable(path) })
        return yield* Either.match(parseTokens(text), {
          onLeft: ({ detail, line }) => Effect.fail(new TokensError({ reason: "Malformed", path, line, detail })),
          onRight: (grants) => Effect.succeed({ text, table: { grants, source: path } })
        })
      }),
    (handle) => Effect.promise(() => handle.close())
  )

export const load = (path: string): Effect.Effect<TokenTable, TokensError> =>
  Effect.map(read(path), ({ table }) => table)

export const make = (path: string) =>
  Effect.gen(function*() {
    const current = yield* Ref.make(yield* load(path))
    // Installed before the layer is up: from then on SIGHUP reloads instead of ending the process.
    const hangups = yield* Queue.sliding<void>(1)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const onHangup = () => void Queue.unsafeOffer(hangups, undefined)
        process.on("SIGHUP", onHangup)
        return onHangup
      }),
      (onHangup) => Effect.sync(() => void process.off("SIGHUP", onHangup))
    )
    const reload = Effect.matchEffect(load(path), {
      onFailure: (error) =>
        Effect.flatMap(Ref.get(current), (kept) =>
          Effect.logWarning(`tokens not reloaded, the ${kept.grants.length} in force kept: ${error.message}`)),
      onSuccess: (table) =>
        Effect.zipRight(Ref.set(current, table), Effect.logInfo(`tokens reloaded: ${table.grants.length} from ${path}`))
    })
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Queue.take(hangups), reload)))
    return Tokens.of({ current: Effect.map(Ref.get(current), Option.some) })
  })

/** The tokens of the file at `path`; none (open to anyone) without one. */
export const layer = (path: Option.Option<string>): Layer.Layer<Tokens, TokensError> =>
  Option.match(path, {
    onNone: () => Layer.succeed(Tokens, Tokens.of({ current: Effect.succeed(Option.none()) })),
    onSome: (path) => Layer.scoped(Tokens, make(path))
  })

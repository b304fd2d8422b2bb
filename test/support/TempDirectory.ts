/** Real temporary directories for tests that write to disk, removed with their contents when the scope closes. */
import * as Effect from "effect/Effect"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"

/** A new empty directory under the system's temporary directory. */
export const make = (prefix = "ferry-test-") =>
  Effect.acquireRelease(
    Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), prefix))),
    (directory) => Effect.promise(() => fsp.rm(directory, { recursive: true, force: true }))
  )

/** The names in `directory`, hidden ones included, sorted. */
export const entries = (directory: string) =>
  Effect.map(Effect.promise(() => fsp.readdir(directory)), (names) => [...names].sort())

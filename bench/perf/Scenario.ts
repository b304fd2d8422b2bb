/** What a scenario is to the harness: a number to select it by, a title, and a run that finds rows. */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { SocketClient } from "../../src/services/SocketClient.js"
import type { ServerFailed } from "../soak/ServerProcess.js"
import type { BenchError } from "./Processes.js"
import type { Result } from "./Report.js"
import type { Workspace } from "./Workspace.js"

export interface Scenario {
  readonly id: number
  readonly title: string
  /** Starts what it needs in the scope (closed when it ends) and measures. */
  readonly run: (workspace: Workspace) => Effect.Effect<Result, BenchError | ServerFailed, Scope.Scope | SocketClient>
}

/**
 * Scenario 4, a herd: 200 clients, each on its own connection, ask for the same uncached 32 MiB file
 * at once. The server must read it from disk once, and every client must get the source's bytes;
 * the figure is the time from the first request sent until the last copy is verified.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fetch from "./Fetch.js"
import { addCpu, describeCpu, measuringCpu, NO_CPU } from "./Processes.js"
import { absolute, fixed, median, type Result, runs } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { MiB, statsOf, type Workspace } from "./Workspace.js"

const CLIENTS = 200
const FILE_BYTES = 32 * MiB

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const count = workspace.quick ? 1 : 3
    const server = yield* workspace.startServer(["--cache-size", "64MiB"])
    const seconds: Array<number> = []
    const loads: Array<number> = []
    const identical: Array<number> = []
    const failures: Array<string> = []
    let cpu = NO_CPU

    // A new file each run: uncached, whatever the previous run left in the cache.
    for (let i = 0; i < count; i++) {
      yield* Console.error(`ferry-perf: [4] run ${i + 1}/${count}`)
      const file = yield* workspace.file(`herd-${i}.bin`, FILE_BYTES)
      const before = yield* statsOf(server)
      const result = yield* Effect.scoped(Effect.gen(function*() {
        // Connected first, so that the requests go out together.
        const sessions = yield* Effect.forEach(
          Array.from({ length: CLIENTS }),
          () => Fetch.session(server.port),
          { concurrency: 50 }
        )
        const [copies, cpu] = yield* measuringCpu(
          server.pid,
          Effect.forEach(
            sessions,
            (session) => Effect.either(Fetch.get(session, file, { hash: true })),
            { concurrency: "unbounded" }
          )
        )
        return { cpu, copies }
      }))
      const after = yield* statsOf(server)
      seconds.push(result.cpu.wall)
      cpu = addCpu(cpu, result.cpu)
      // A request the server streams from disk instead of waiting for the load is a disk read too.
      loads.push(after.loads! - before.loads! + after.streamed! - before.streamed!)
      identical.push(result.copies.filter(Either.isRight).length)
      for (const copy of result.copies) if (Either.isLeft(copy) && failures.length < 3) failures.push(copy.left.detail)
    }

    const allIdentical = identical.every((n) => n === CLIENTS)
    return {
      rows: [
        absolute(
          `4. Herd: disk reads for ${CLIENTS} concurrent requests`,
          loads.join(", "),
          "= 1",
          loads.every((n) => n === 1)
        ),
        absolute(`4. Herd: time until all ${CLIENTS} have the 32 MiB file`, `${fixed(median(seconds), 2)} s`),
        absolute(
          `4. Herd: copies identical to the source`,
          identical.map((n) => `${n}/${CLIENTS}`).join(", "),
          "all",
          allIdentical
        )
      ],
      notes: [
        `4. ${count} run${count === 1 ? "" : "s"}, each with a new 32 MiB file and ${CLIENTS} in-process clients, ` +
        `each on its own connection (opened beforehand), sending their GETs at once. Disk reads: \`loads\` + ` +
        `\`streamed\` from the server's stats, per run. Time: from the first request sent until the last client ` +
        `has received and SHA-256-checked its copy (the clients hash in the harness's process, on the same 2 ` +
        `cores), median; ` +
        `${runs(seconds, "s", 2)}; CPU: ${describeCpu(cpu)}. No baseline.` +
        (failures.length > 0 ? ` First failures: ${failures.join("; ")}.` : "")
      ]
    } satisfies Result
  })

export const herd: Scenario = { id: 4, title: "Herd", run }

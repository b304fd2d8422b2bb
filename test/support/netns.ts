/**
 * A faulty network for end-to-end tests: a Linux network namespace joined to the root namespace by a
 * veth pair, where a process (the server) runs and nftables drops packets on demand. Needs root,
 * `ip` (iproute2) and `nft` (nftables); `unavailable` says why not, for `describe.skipIf`.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn, type SpawnOptions, spawnSync } from "node:child_process"

/** Why namespaces cannot be made here (so their tests are skipped), or undefined when they can. */
export const unavailable: string | undefined = (() => {
  if (process.getuid?.() !== 0) return "network namespaces need root"
  if (spawnSync("ip", ["netns", "list"], { stdio: "ignore" }).status !== 0) return "`ip netns` is not available"
  if (spawnSync("nft", ["--version"], { stdio: "ignore" }).status !== 0) return "`nft` is not installed (nftables)"
  return undefined
})()

export interface Netns {
  readonly name: string
  /** The namespace's address, on its end of the veth pair: what a client in the root namespace connects to. */
  readonly address: string
  /** The root namespace's address on the pair, as seen from inside. */
  readonly hostAddress: string
  /** Starts `command` inside the namespace; it is killed when the scope closes, if it has not exited. */
  readonly spawn: (
    command: string,
    args: ReadonlyArray<string>,
    options?: Omit<SpawnOptions, "stdio">
  ) => Effect.Effect<ChildProcess, never, Scope.Scope>
  /** From now on, drops `percent` of the packets crossing the veth pair, at random, in each direction. */
  readonly dropRandom: (percent: number) => Effect.Effect<void>
  /** From now on, drops every packet crossing the veth pair. */
  readonly blackhole: Effect.Effect<void>
  /** Removes the fault: packets cross again. */
  readonly restore: Effect.Effect<void>
  /** Packets dropped, both directions together, since the fault in place was set (0 with none). */
  readonly dropped: Effect.Effect<number>
}

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, input?: string): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    const child = spawn(command, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (text: string) => stdout += text)
    child.stderr!.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("error", (error) => resume(Effect.succeed({ code: null, stdout, stderr: error.message })))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    if (input !== undefined) child.stdin!.end(input)
  })

/** Runs a command that must succeed; its failure is a defect naming it. */
const must = (command: string, args: ReadonlyArray<string>, input?: string): Effect.Effect<string> =>
  Effect.flatMap(run(command, args, input), (ran) =>
    ran.code === 0
      ? Effect.succeed(ran.stdout)
      : Effect.dieMessage(`${command} ${args.join(" ")} failed (exit ${ran.code}): ${ran.stderr.trim()}`))

// Each pair gets a /30 of 10.213.0.0/16, 16384 of them: a slot is claimed by creating the root
// namespace's end of the pair, `ferry<slot>h`, which fails if another test (in this process or another
// worker) holds it. The first slot tried depends on the process, so that workers rarely collide.
const SLOTS = 16384
const ATTEMPTS = 64
const subnet = (slot: number) => `10.213.${slot >> 6}.${(slot & 63) * 4}`
const plus = (base: string, n: number) => base.replace(/\d+$/, (last) => String(Number(last) + n))

let instances = 0

const TABLE = "ferry_fault"

/** An nft script replacing the fault table with one whose chains hold `rule` (none: no table). */
const faultScript = (rule: string | undefined) => {
  // Adding, then deleting, makes the deletion succeed whether or not the table was there.
  const clear = `table inet ${TABLE}\ndelete table inet ${TABLE}\n`
  if (rule === undefined) return clear
  // Loopback is spared: only traffic over the veth pair, to and from the root namespace, is faulty.
  return clear + `table inet ${TABLE} {
  chain input { type filter hook input priority 0; policy accept; iifname "lo" accept; ${rule}; }
  chain output { type filter hook output priority 0; policy accept; oifname "lo" accept; ${rule}; }
}
`
}

interface NftCounter {
  readonly counter?: { readonly packets: number }
}

const countDropped = (json: string): number => {
  const items = (JSON.parse(json) as { nftables: ReadonlyArray<{ rule?: { expr: ReadonlyArray<NftCounter> } }> })
    .nftables
  return items.flatMap((item) => item.rule?.expr ?? []).reduce((sum, expr) => sum + (expr.counter?.packets ?? 0), 0)
}

/** Kills what still runs in the namespace (children of children too), then removes the pair and the namespace. */
const remove = (name: string, hostLink: string | undefined) =>
  Effect.gen(function*() {
    const pids = yield* run("ip", ["netns", "pids", name])
    for (const pid of pids.stdout.split(/\s+/).filter((pid) => pid !== "")) {
      try {
        process.kill(Number(pid), "SIGKILL")
      } catch {
        // Exited meanwhile.
      }
    }
    // Deleting one end deletes both. It is done explicitly because a namespace whose sockets still
    // linger (a FIN being retransmitted) outlives `ip netns del`, and its end of the pair with it.
    if (hostLink !== undefined) yield* run("ip", ["link", "del", hostLink])
    yield* run("ip", ["netns", "del", name])
  })

/** A new namespace and veth pair, both up with their addresses; removed with everything in it when the scope closes. */
export const make: Effect.Effect<Netns, never, Scope.Scope> = Effect.gen(function*() {
  if (unavailable !== undefined) return yield* Effect.dieMessage(`cannot make a network namespace: ${unavailable}`)
  const instance = instances++
  const name = `ferry-${process.pid}-${instance}`
  let hostLink: string | undefined
  yield* Effect.acquireRelease(must("ip", ["netns", "add", name]), () => remove(name, hostLink))

  const first = (process.pid * 97 + instance * 7) % SLOTS
  let slot: number | undefined
  for (let attempt = 0; attempt < ATTEMPTS && slot === undefined; attempt++) {
    const candidate = (first + attempt) % SLOTS
    const ran = yield* run("ip", [
      "link",
      "add",
      `ferry${candidate}h`,
      "type",
      "veth",
      "peer",
      "name",
      `ferry${candidate}n`,
      "netns",
      name
    ])
    if (ran.code === 0) slot = candidate
    else if (!/exists/i.test(ran.stderr)) return yield* Effect.dieMessage(`ip link add failed: ${ran.stderr.trim()}`)
  }
  if (slot === undefined) return yield* Effect.dieMessage(`no free veth slot after ${ATTEMPTS} attempts`)
  hostLink = `ferry${slot}h`
  const innerLink = `ferry${slot}n`
  const hostAddress = plus(subnet(slot), 1)
  const address = plus(subnet(slot), 2)

  yield* must("ip", ["addr", "add", `${hostAddress}/30`, "dev", hostLink])
  yield* must("ip", ["link", "set", hostLink, "up"])
  yield* must("ip", ["-n", name, "addr", "add", `${address}/30`, "dev", innerLink])
  yield* must("ip", ["-n", name, "link", "set", innerLink, "up"])
  yield* must("ip", ["-n", name, "link", "set", "lo", "up"])

  const nft = (script: string) => Effect.asVoid(must("ip", ["netns", "exec", name, "nft", "-f", "-"], script))

  return {
    name,
    address,
    hostAddress,
    spawn: (command, args, options = {}) =>
      Effect.acquireRelease(
        Effect.sync(() =>
          spawn("ip", ["netns", "exec", name, command, ...args], { ...options, stdio: ["ignore", "pipe", "pipe"] })
        ),
        (child) =>
          child.exitCode !== null || child.signalCode !== null
            ? Effect.void
            : Effect.async<void>((resume) => {
              child.once("exit", () => resume(Effect.void))
              child.kill("SIGKILL")
            })
      ),
    dropRandom: (percent) =>
      Number.isInteger(percent) && percent >= 0 && percent <= 100
        ? nft(faultScript(`numgen random mod 100 < ${percent} counter drop`))
        : Effect.dieMessage(`dropRandom: ${percent} is not a whole percentage`),
    blackhole: nft(faultScript("counter drop")),
    restore: nft(faultScript(undefined)),
    dropped: Effect.flatMap(
      run("ip", ["netns", "exec", name, "nft", "-j", "list", "table", "inet", TABLE]),
      (ran) => Effect.succeed(ran.code === 0 ? countDropped(ran.stdout) : 0)
    )
  } satisfies Netns
})

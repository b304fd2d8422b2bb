/**
 * The cluster script's pieces that need no HAProxy: its GET frames are the protocol's, and its
 * checks fail when a file is cached twice, or when a removal moves a file it should not have.
 */
import { describe, expect, it } from "@effect/vitest"
import { getFrame } from "../../bench/cluster/Fetch.js"
import { type NodeState, removalChecks, type Snapshot, spreadChecks } from "../../bench/cluster/Ownership.js"
import * as Codec from "../../src/protocol/Codec.js"

const node = (cached: ReadonlyArray<string>, loads: number, hits: number): NodeState => ({
  cached: new Set(cached),
  loads,
  hits
})
const failed = (checks: ReadonlyArray<{ readonly what: string; readonly ok: boolean }>) =>
  checks.filter((check) => !check.ok).map((check) => check.what)

const FILES = ["a", "b", "c", "d"]
// Two rounds: every file loaded once, then a hit.
const before: Snapshot = new Map([["n1", node(["a", "b"], 2, 2)], ["n2", node(["c"], 1, 1)], ["n3", node(["d"], 1, 1)]])

describe("the cluster script", () => {
  it("writes a GET with one digest id exactly as the client's codec does, and any count of ids", () => {
    const ours = getFrame("dir/f.bin", 1)
    expect(Buffer.from(ours)).toEqual(Buffer.from(Codec.encodeRequest(Codec.Request.Get({
      name: "dir/f.bin",
      digests: ["xxh3-128"]
    }))))
    const sixteen = getFrame("f.bin", 16)
    expect(sixteen[9]).toBe(16)
    expect(Buffer.from(sixteen.subarray(34 + 16)).toString()).toBe("f.bin")
    expect(new DataView(sixteen.buffer).getUint32(5)).toBe(sixteen.length - 9)
  })

  it("passes one owner per file, and fails a file cached by two nodes", () => {
    expect(failed(spreadChecks(before, FILES, 2))).toEqual([])
    const twice = new Map([...before, ["n3", node(["d", "a"], 2, 1)]])
    expect(failed(spreadChecks(twice, FILES, 2))).toEqual([
      "loads, all nodes together",
      "files cached by exactly one node",
      "each node's hits = 1 per file it caches (every fetch after the first)"
    ])
  })

  it("passes a removal that moves only the removed node's files, and fails one that moves another", () => {
    // n1 out: a to n2, b to n3; c and d stay.
    const after: Snapshot = new Map([
      ["n1", node(["a", "b"], 2, 2)],
      ["n2", node(["c", "a"], 2, 1 + 2 + 1)],
      ["n3", node(["d", "b"], 2, 1 + 2 + 1)]
    ])
    expect(failed(removalChecks(before, after, "n1", FILES, 2))).toEqual([])
    const strayed: Snapshot = new Map([...after, ["n3", node(["d", "b", "c"], 3, 1 + 2 + 1)]])
    expect(failed(removalChecks(before, strayed, "n1", FILES, 2))).toEqual([
      "the survivors' files kept their owner",
      "survivors' new loads = the files they took over, and no more"
    ])
  })
})

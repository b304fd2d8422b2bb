/**
 * What the nodes' own counters and caches say about the balancer: after every file has been fetched
 * a few times, each is cached by exactly one node, which read it from disk once; after one node is
 * taken out and everything fetched again, only that node's files have moved, each to one survivor.
 */
export interface NodeState {
  readonly cached: ReadonlySet<string>
  readonly loads: number
  readonly hits: number
}

/** Each node's state, by its name. */
export type Snapshot = ReadonlyMap<string, NodeState>

export interface Check {
  readonly what: string
  readonly ok: boolean
  readonly detail: string
}

const sum = (values: Iterable<number>) => [...values].reduce((total, value) => total + value, 0)

/** Each file's holders, in node order. */
const holders = (snapshot: Snapshot, files: ReadonlyArray<string>) =>
  new Map(files.map((file) => [file, [...snapshot].filter(([, node]) => node.cached.has(file)).map(([name]) => name)]))

const some = (list: ReadonlyArray<string>) => list.length <= 5 ? list.join(", ") : `${list.slice(0, 5).join(", ")}, ...`

/** The node that caches each file, for files cached by exactly one. */
export const owners = (snapshot: Snapshot, files: ReadonlyArray<string>): ReadonlyMap<string, string> =>
  new Map([...holders(snapshot, files)].flatMap(([file, nodes]) => nodes.length === 1 ? [[file, nodes[0]!]] : []))

const onePerFile = (snapshot: Snapshot, files: ReadonlyArray<string>, what: string): Check => {
  const wrong = [...holders(snapshot, files)].filter(([, nodes]) => nodes.length !== 1)
  return {
    what,
    ok: wrong.length === 0,
    detail: wrong.length === 0
      ? `${files.length} of ${files.length}`
      : `${wrong.length} not: ${some(wrong.map(([file, nodes]) => `${file} on ${nodes.join("+") || "none"}`))}`
  }
}

/** After `rounds` fetches of each of `files` through the balancer, from fresh nodes. */
export const spreadChecks = (snapshot: Snapshot, files: ReadonlyArray<string>, rounds: number): Array<Check> => {
  const nodes = [...snapshot]
  const loads = sum(nodes.map(([, node]) => node.loads))
  const perNode = (expected: (node: NodeState) => number, field: "loads" | "hits") => {
    const wrong = nodes.filter(([, node]) => node[field] !== expected(node))
    return wrong.length === 0
      ? "every node"
      : some(wrong.map(([name, node]) => `${name} ${node[field]}, not ${expected(node)}`))
  }
  return [
    { what: "loads, all nodes together", ok: loads === files.length, detail: `${loads} for ${files.length} files` },
    onePerFile(snapshot, files, "files cached by exactly one node"),
    {
      what: "each node's loads = the files it caches",
      ok: nodes.every(([, node]) => node.loads === node.cached.size),
      detail: perNode((node) => node.cached.size, "loads")
    },
    {
      what: `each node's hits = ${rounds - 1} per file it caches (every fetch after the first)`,
      ok: nodes.every(([, node]) => node.hits === (rounds - 1) * node.cached.size),
      detail: perNode((node) => (rounds - 1) * node.cached.size, "hits")
    }
  ]
}

/** The files each survivor took from `removed`, by survivor. */
export const takenOver = (before: Snapshot, after: Snapshot, removed: string, files: ReadonlyArray<string>) => {
  const previous = owners(before, files)
  // The removed node keeps its cache: it is out of the balancer, not stopped.
  const survivors = new Map([...after].filter(([name]) => name !== removed))
  const now = owners(survivors, files)
  const taken = new Map<string, Array<string>>()
  for (const [file, owner] of previous) {
    const next = now.get(file)
    if (owner === removed && next !== undefined) taken.set(next, [...(taken.get(next) ?? []), file])
  }
  return taken
}

/** After `removed` was taken out of the balancer and each file fetched `rounds` times more. */
export const removalChecks = (
  before: Snapshot,
  after: Snapshot,
  removed: string,
  files: ReadonlyArray<string>,
  rounds: number
): Array<Check> => {
  const previous = owners(before, files)
  const survivors = [...after.keys()].filter((name) => name !== removed)
  const movedFiles = files.filter((file) => previous.get(file) === removed)
  const keptFiles = files.filter((file) => previous.get(file) !== removed)
  const gone = before.get(removed)!
  const still = after.get(removed)!
  const taken = takenOver(before, after, removed, files)
  const nowHolders = holders(after, files)
  // A survivor's file must still be its own, and no other survivor's.
  const strayed = keptFiles.filter((file) => {
    const nodes = nowHolders.get(file)!.filter((node) => node !== removed)
    return nodes.length !== 1 || nodes[0] !== previous.get(file)
  })
  const wrongMoves = movedFiles.filter((file) => nowHolders.get(file)!.filter((node) => node !== removed).length !== 1)
  const delta = (name: string, field: "loads" | "hits") => after.get(name)![field] - before.get(name)![field]
  const expectedHits = (name: string) =>
    rounds * before.get(name)!.cached.size + (rounds - 1) * (taken.get(name)?.length ?? 0)
  const mismatched = (field: "loads" | "hits", expected: (name: string) => number) =>
    survivors.filter((name) => delta(name, field) !== expected(name))
  const wrongLoads = mismatched("loads", (name) => taken.get(name)?.length ?? 0)
  const wrongHits = mismatched("hits", expectedHits)
  return [
    {
      what: `${removed} taken out: reached by no request (loads, hits unchanged)`,
      ok: still.loads === gone.loads && still.hits === gone.hits,
      detail: `loads ${gone.loads} -> ${still.loads}, hits ${gone.hits} -> ${still.hits}`
    },
    {
      what: "the survivors' files kept their owner",
      ok: strayed.length === 0,
      detail: strayed.length === 0 ? `${keptFiles.length} of ${keptFiles.length}` : `moved: ${some(strayed)}`
    },
    {
      what: `${removed}'s files each loaded by exactly one survivor`,
      ok: wrongMoves.length === 0,
      detail: wrongMoves.length === 0
        ? `${movedFiles.length} of ${movedFiles.length}`
        : `not: ${some(wrongMoves.map((file) => `${file} on ${nowHolders.get(file)!.join("+") || "none"}`))}`
    },
    {
      what: "survivors' new loads = the files they took over, and no more",
      ok: wrongLoads.length === 0,
      detail: survivors.map((name) => `${name} +${delta(name, "loads")} (took ${taken.get(name)?.length ?? 0})`)
        .join(", ")
    },
    {
      what: `survivors' new hits = ${rounds} per file kept + ${rounds - 1} per file taken over`,
      ok: wrongHits.length === 0,
      detail: survivors.map((name) => `${name} +${delta(name, "hits")} (expected ${expectedHits(name)})`).join(", ")
    }
  ]
}

/** Files, loads and hits per node, before and after the removal, and what each survivor took. */
export const table = (before: Snapshot, after: Snapshot, removed: string, files: ReadonlyArray<string>) => {
  const taken = takenOver(before, after, removed, files)
  const cells = (node: NodeState) =>
    `${String(node.cached.size).padStart(5)}  ${String(node.loads).padStart(5)}  ${String(node.hits).padStart(5)}`
  return [
    `        ${"all three".padEnd(19)}    ${removed} taken out`,
    `  node  files  loads   hits    files  loads   hits   took over`,
    ...[...before].map(([name, node]) =>
      `  ${name.padEnd(4)}  ${cells(node)}    ${cells(after.get(name)!)}   ${
        name === removed ? "(out)" : String(taken.get(name)?.length ?? 0).padStart(5)
      }`
    )
  ]
}

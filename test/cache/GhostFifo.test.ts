import { describe, expect, it } from "@effect/vitest"
import { GhostFifo } from "../../src/cache/GhostFifo.js"
import { LinkedList } from "../../src/cache/LinkedList.js"

describe("GhostFifo", () => {
  it("forgets the oldest keys first, and only when trimmed", () => {
    const ghosts = new GhostFifo(10)
    ghosts.add("a", 4)
    ghosts.add("b", 4)
    ghosts.add("c", 4)
    ghosts.add("a", 4) // already remembered: keeps its place
    // Over budget until trimmed: the key being admitted can still be found.
    expect(ghosts.delete("c")).toBe(true)
    ghosts.add("c", 4)
    ghosts.trim()
    expect(ghosts.delete("a")).toBe(false)
    expect(ghosts.delete("b")).toBe(true)
    expect(ghosts.delete("c")).toBe(true)
  })

  it("does not let a key larger than its budget push the others out", () => {
    const ghosts = new GhostFifo(10)
    ghosts.add("a", 4)
    ghosts.add("huge", 11)
    ghosts.trim()
    expect(ghosts.delete("huge")).toBe(false)
    expect(ghosts.delete("a")).toBe(true)
  })
})

describe("LinkedList", () => {
  it("pushes at the back, shifts from the front, moves and removes known nodes", () => {
    const list = new LinkedList<string>()
    const a = list.push("a")
    list.push("b")
    const c = list.push("c")
    list.moveToBack(a)
    list.remove(c)
    list.remove(c) // twice: no effect
    expect(list.length).toBe(2)
    expect(list.shift()).toBe("b")
    expect(list.shift()).toBe("a")
    expect(list.shift()).toBeUndefined()
    expect(list.head).toBeUndefined()
    expect(list.tail).toBeUndefined()
  })
})

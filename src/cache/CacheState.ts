/**
 * The cache's bookkeeping, as plain synchronous transitions: entries, pins, reservations for
 * loads in progress, and the byte accounting that keeps everything held within the capacity.
 */
import { type CachedFile, type CacheListing, type CacheStats, isSlice } from "../services/Cache.js"
import { type FileInfo, sameVersion } from "../services/FileStore.js"
import type { EvictionPolicy } from "./EvictionPolicy.js"

// Enough for the loads that follow the evictions a reservation makes, a slice or two.
const SPARES = 2

export interface Entry {
  readonly file: CachedFile
  /** Requests sending or having just loaded this entry; a pinned entry is never evicted. */
  pins: number
  /** False once dropped from the index; its bytes stay counted until its last pin goes. */
  attached: boolean
}

/** Room held for a load in progress; it becomes an entry, or is given back. */
export interface Reservation {
  readonly size: number
  state: "reserved" | "released" | Entry
}

export class CacheState {
  private readonly entries = new Map<string, Entry>()
  /** Bytes held: attached entries, dropped entries still pinned, and reservations. */
  private used = 0
  /** The part of `used` that cannot be freed now: pinned entries and reservations. */
  private held = 0
  private pinnedEntries = 0
  private evictions = 0
  private slices = 0
  /** Memory of freed recyclable entries, for loads of the same size: a few, not counted as used. */
  private readonly spares: Array<Uint8Array> = []

  constructor(readonly capacity: number, private readonly policy: EvictionPolicy) {}

  /** The entry for exactly `info`'s version, pinned; an entry of another version is dropped. */
  lookup(info: FileInfo): Entry | undefined {
    const entry = this.entries.get(info.name)
    if (entry === undefined) return undefined
    if (!sameVersion(entry.file.info, info)) {
      this.drop(entry)
      return undefined
    }
    this.policy.hit(info.name)
    this.pin(entry)
    return entry
  }

  /**
   * Holds `size` bytes for a load, evicting unpinned entries as the policy chooses. Evicts nothing
   * and returns `undefined` when pinned entries and other reservations leave too little room.
   */
  reserve(size: number): Reservation | undefined {
    if (size > this.capacity - this.held) return undefined
    while (this.capacity - this.used < size) {
      const victim = this.policy.evict((key) => this.entries.get(key)!.pins > 0)
      if (victim === undefined) throw new Error("eviction policy found no victim although there is room to free")
      this.remove(this.entries.get(victim)!)
      this.evictions++
    }
    this.used += size
    this.held += size
    return { size, state: "reserved" }
  }

  /** Turns a reservation into an entry holding `file`, pinned until the reservation is released. */
  commit(reservation: Reservation, file: CachedFile): Entry {
    if (reservation.state !== "reserved") throw new Error(`cannot commit a reservation in state ${reservation.state}`)
    if (file.bytes.length !== reservation.size) {
      throw new Error(`loaded ${file.bytes.length} bytes into a reservation of ${reservation.size}`)
    }
    const previous = this.entries.get(file.info.name)
    if (previous !== undefined) this.drop(previous)
    const entry: Entry = { file, pins: 1, attached: true }
    this.pinnedEntries++
    this.entries.set(file.info.name, entry)
    if (isSlice(file.info.name)) this.slices++
    this.policy.insert(file.info.name, reservation.size)
    reservation.state = entry
    return entry
  }

  /** Gives back an uncommitted reservation, or unpins the entry it became. Idempotent. */
  release(reservation: Reservation): void {
    const state = reservation.state
    if (state === "released") return
    reservation.state = "released"
    if (state === "reserved") {
      this.used -= reservation.size
      this.held -= reservation.size
    } else {
      this.unpin(state)
    }
  }

  unpin(entry: Entry): void {
    entry.pins--
    if (entry.pins > 0) return
    this.pinnedEntries--
    this.held -= entry.file.bytes.length
    if (!entry.attached) this.free(entry)
  }

  /** A spare of exactly `size` bytes, taken out of the spares. */
  spare(size: number): Uint8Array | undefined {
    const index = this.spares.findIndex((bytes) => bytes.length === size)
    return index < 0 ? undefined : this.spares.splice(index, 1)[0]
  }

  invalidate(name: string): void {
    const entry = this.entries.get(name)
    if (entry !== undefined) this.drop(entry)
  }

  list(): Array<CacheListing> {
    const listing: Array<CacheListing> = []
    for (const { file: { info } } of this.entries.values()) {
      if (!isSlice(info.name)) listing.push({ name: info.name, size: info.size })
    }
    return listing
  }

  stats(): CacheStats {
    return {
      capacity: this.capacity,
      used: this.used,
      entries: this.entries.size,
      slices: this.slices,
      pinned: this.pinnedEntries,
      evictions: this.evictions
    }
  }

  private pin(entry: Entry): void {
    if (entry.pins === 0) {
      this.pinnedEntries++
      this.held += entry.file.bytes.length
    }
    entry.pins++
  }

  /** Takes an entry out of the index outside of eviction: stale, invalidated or replaced. */
  private drop(entry: Entry): void {
    this.policy.remove(entry.file.info.name)
    this.remove(entry)
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.file.info.name)
    if (isSlice(entry.file.info.name)) this.slices--
    entry.attached = false
    if (entry.pins === 0) this.free(entry)
  }

  /** An entry neither indexed nor pinned: its bytes leave the accounting, and a recyclable one's memory is kept. */
  private free(entry: Entry): void {
    this.used -= entry.file.bytes.length
    if (entry.file.recyclable === true && this.spares.length < SPARES) this.spares.push(entry.file.bytes)
  }
}

/** No slot: `find` missed, or the end of the recency list. */
export const NO_SLOT = -1;

/** Slots are allocated this many at a time at first, then twice as many, up to the cap. */
const FIRST_SLOTS = 1_024;

/**
 * A bounded index from (scope, key) to a slot number, kept in least-recently-used order:
 * the per-slot state lives in typed arrays its owner sizes by `slotCount` (bucket-table.ts,
 * leased-limiter.ts). At `capacity` entries, adding one reuses the least recently used slot.
 *
 * Why this shape: a hit is two Map lookups (scope, then key: no key string is built per
 * request) and a few integer writes to move the slot to the front of the recency list; it
 * allocates nothing. A Map re-inserted on every hit (the usual JavaScript LRU) would churn the
 * Map's own storage instead.
 */
export class SlotTable {
  readonly capacity: number;
  readonly #scopes = new Map<string, Map<string, number>>();
  /** Per slot: its key, its scope's map and scope name (to forget it when evicted). */
  readonly #keys: string[] = [];
  readonly #maps: (Map<string, number> | undefined)[] = [];
  readonly #scopeNames: string[] = [];
  /** The recency list: head is the most recent, tail the least. */
  #prev = new Int32Array(0);
  #next = new Int32Array(0);
  #head = NO_SLOT;
  #tail = NO_SLOT;
  /** Slots given back (removed), reused before new ones. */
  readonly #free: number[] = [];
  /** Slots ever handed out (the high-water mark); the arrays hold `slotCount`. */
  #used = 0;
  #size = 0;
  readonly #onGrow: (slots: number) => void;

  /** `onGrow(n)`: the owner's arrays must now hold `n` slots (copy the old ones over). */
  constructor(capacity: number, onGrow: (slots: number) => void) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity >= 1');
    this.capacity = capacity;
    this.#onGrow = onGrow;
  }

  get size(): number {
    return this.#size;
  }

  get slotCount(): number {
    return this.#prev.length;
  }

  /** The slot of (scope, key), now the most recently used; NO_SLOT when absent. */
  find(scope: string, key: string): number {
    const slot = this.#scopes.get(scope)?.get(key);
    if (slot === undefined) return NO_SLOT;
    if (slot !== this.#head) {
      this.#unlink(slot);
      this.#pushHead(slot);
    }
    return slot;
  }

  /**
   * A slot for (scope, key), which must be absent; the most recently used. At capacity, the
   * least recently used entry's slot is reused: `onEvict(slot)` runs first, while the slot
   * still holds that entry's state.
   */
  add(scope: string, key: string, onEvict: (slot: number) => void): number {
    let slot: number;
    if (this.#size >= this.capacity) {
      slot = this.#tail;
      onEvict(slot);
      this.#forget(slot);
    } else {
      slot = this.#free.pop() ?? this.#grab();
    }
    let map = this.#scopes.get(scope);
    if (map === undefined) {
      map = new Map();
      this.#scopes.set(scope, map);
    }
    map.set(key, slot);
    this.#keys[slot] = key;
    this.#maps[slot] = map;
    this.#scopeNames[slot] = scope;
    this.#pushHead(slot);
    this.#size++;
    return slot;
  }

  /** Gives a slot back (its entry is forgotten). */
  remove(slot: number): void {
    this.#forget(slot);
    this.#free.push(slot);
  }

  /**
   * Gives back every slot `expired` says is done with, walking from the least recently used;
   * `onRemove` hears of each first. Returns how many went.
   */
  removeWhere(expired: (slot: number) => boolean, onRemove?: (slot: number) => void): number {
    let removed = 0;
    for (let slot = this.#tail; slot !== NO_SLOT;) {
      // Read before the slot is unlinked: removing it changes its links.
      const newer = this.#prev[slot] as number;
      if (expired(slot)) {
        onRemove?.(slot);
        this.remove(slot);
        removed++;
      }
      slot = newer;
    }
    return removed;
  }

  #forget(slot: number): void {
    const map = this.#maps[slot];
    if (map !== undefined) {
      map.delete(this.#keys[slot] as string);
      if (map.size === 0) this.#scopes.delete(this.#scopeNames[slot] as string);
    }
    this.#maps[slot] = undefined;
    this.#keys[slot] = '';
    this.#scopeNames[slot] = '';
    this.#unlink(slot);
    this.#size--;
  }

  /** A never used slot, growing the arrays (twice, up to the cap) when they are full. */
  #grab(): number {
    if (this.#used === this.#prev.length) {
      const slots = Math.min(this.capacity, Math.max(FIRST_SLOTS, this.#prev.length * 2));
      const prev = new Int32Array(slots);
      const next = new Int32Array(slots);
      prev.set(this.#prev);
      next.set(this.#next);
      this.#prev = prev;
      this.#next = next;
      this.#onGrow(slots);
    }
    return this.#used++;
  }

  #pushHead(slot: number): void {
    this.#prev[slot] = NO_SLOT;
    this.#next[slot] = this.#head;
    if (this.#head !== NO_SLOT) this.#prev[this.#head] = slot;
    this.#head = slot;
    if (this.#tail === NO_SLOT) this.#tail = slot;
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot] as number;
    const next = this.#next[slot] as number;
    if (prev === NO_SLOT) this.#head = next;
    else this.#next[prev] = next;
    if (next === NO_SLOT) this.#tail = prev;
    else this.#prev[next] = prev;
  }
}

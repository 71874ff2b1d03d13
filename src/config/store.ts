import type { Snapshot } from './snapshot.ts';

/**
 * The one mutable reference to the running config. Readers take `current()` once per request
 * and keep that snapshot to the end; `swap()` replaces the reference in one assignment, so a
 * request never sees half of one config and half of another.
 */
export class ConfigStore {
  #current: Snapshot;

  constructor(initial: Snapshot) {
    this.#current = initial;
  }

  current(): Snapshot {
    return this.#current;
  }

  swap(next: Snapshot): Snapshot {
    const previous = this.#current;
    this.#current = next;
    return previous;
  }
}

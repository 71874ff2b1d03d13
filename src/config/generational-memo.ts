/**
 * Results remembered for two generations: the config serving and the one being loaded. A
 * reload usually changes little, so most lookups hit the previous generation; whatever the new
 * generation does not use is forgotten when the next one ends. Never stores `undefined`.
 */
export class GenerationalMemo<K, V> {
  #previous = new Map<K, V>();
  #current = new Map<K, V>();

  /** The value remembered in this generation or the last (then kept into this one). */
  get(key: K): V | undefined {
    let value = this.#current.get(key);
    if (value === undefined) {
      value = this.#previous.get(key);
      if (value !== undefined) this.#current.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#current.set(key, value);
  }

  endGeneration(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }
}

/** Something with deadlines the clock checks once a second. */
export interface Ticking {
  tick(now: number): void;
}

/**
 * One timer for every client connection of the process, as Node's own server checks its
 * connections (connectionsCheckingInterval): a connection's deadlines are numbers it updates,
 * not timers it arms and clears on every request. A deadline is met within a second.
 */
export class ConnectionClock {
  readonly #members = new Set<Ticking>();
  #timer: NodeJS.Timeout | undefined;

  add(member: Ticking): void {
    this.#members.add(member);
    this.#timer ??= setInterval(() => this.#tick(), 1_000).unref();
  }

  delete(member: Ticking): void {
    this.#members.delete(member);
  }

  #tick(): void {
    const now = performance.now();
    for (const member of this.#members) member.tick(now);
    if (this.#members.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

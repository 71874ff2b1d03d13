/** Seconds of history the budget looks at. */
const WINDOW_S = 10;
/**
 * Retries always allowed in a window, whatever the traffic: at a few requests a minute a
 * percentage allows none, and a handful cannot hammer anything (Envoy's retry budget has
 * the same floor, min_retry_concurrency 3).
 */
export const MIN_RETRIES_PER_WINDOW = 3;

/**
 * A route's retry budget: retries over the last 10 s may not exceed `percent` of the requests
 * over the same 10 s (or the small floor above), so a backend that fails everything gets at
 * most that much extra load instead of every request times `attempts`.
 */
export class RetryBudget {
  readonly #requests = new Float64Array(WINDOW_S);
  readonly #retries = new Float64Array(WINDOW_S);
  #second = 0;

  #advance(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.#second) {
      const gap = Math.min(second - this.#second, WINDOW_S);
      for (let i = 1; i <= gap; i++) {
        const slot = (this.#second + i) % WINDOW_S;
        this.#requests[slot] = 0;
        this.#retries[slot] = 0;
      }
      this.#second = second;
    }
    return second % WINDOW_S;
  }

  request(nowMs: number): void {
    const slot = this.#advance(nowMs);
    this.#requests[slot] = (this.#requests[slot] ?? 0) + 1;
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(nowMs: number, percent: number): boolean {
    const slot = this.#advance(nowMs);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < WINDOW_S; i++) {
      requests += this.#requests[i] as number;
      retries += this.#retries[i] as number;
    }
    if (retries + 1 > Math.max(MIN_RETRIES_PER_WINDOW, (percent / 100) * requests)) return false;
    this.#retries[slot] = (this.#retries[slot] ?? 0) + 1;
    return true;
  }
}

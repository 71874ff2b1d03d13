import type { HealthCheckConfig } from '../config/types.ts';
import { probe } from './probe.ts';
import type { TargetState } from './target-state.ts';
import type { UpstreamClient } from './upstream-client.ts';

export interface ProbeEvents {
  /** The upstream crossed a threshold: healthy again, or unhealthy. */
  changed(state: TargetState, healthy: boolean, detail: string): void;
}

/**
 * The active health check of one upstream of one route: `GET path` every `interval_ms`, with
 * the upstream's own host as Host, answered within `timeout_ms` with a 2xx or 3xx. After
 * `unhealthy_threshold` failures in a row the upstream leaves the rotation; after
 * `healthy_threshold` successes in a row it is back. The first probe goes out at once; until
 * its verdict the upstream counts as healthy (a new route must not start out refusing traffic).
 */
export class HealthProber {
  readonly state: TargetState;
  readonly #config: HealthCheckConfig;
  readonly #client: UpstreamClient;
  readonly #events: ProbeEvents;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  #stopped = false;
  #successes = 0;
  #failures = 0;

  constructor(
    state: TargetState,
    config: HealthCheckConfig,
    client: UpstreamClient,
    events: ProbeEvents,
  ) {
    this.state = state;
    this.#config = config;
    this.#client = client;
    this.#events = events;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#probe(), this.#config.interval_ms);
    this.#timer.unref();
    void this.#probe();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async #probe(): Promise<void> {
    // A probe slower than the interval is not stacked on: the next tick waits for it.
    if (this.#inFlight || this.#stopped) return;
    this.#inFlight = true;
    const verdict = await this.#ask();
    this.#inFlight = false;
    if (!this.#stopped && verdict !== undefined) this.#count(verdict);
  }

  async #ask(): Promise<{ ok: boolean; detail: string } | undefined> {
    const { origin } = this.state.target;
    const result = await probe(this.#client, origin, this.#config.path, this.#config.timeout_ms);
    if (result === undefined) return undefined;
    if (result.status === undefined) return { ok: false, detail: result.failure ?? 'failed' };
    const ok = result.status >= 200 && result.status <= 399;
    return { ok, detail: `status ${result.status}` };
  }

  #count({ ok, detail }: { ok: boolean; detail: string }): void {
    const state = this.state;
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (!state.activeHealthy && this.#successes >= this.#config.healthy_threshold) {
        state.activeHealthy = true;
        this.#events.changed(state, true, detail);
      }
    } else {
      this.#successes = 0;
      this.#failures++;
      if (state.activeHealthy && this.#failures >= this.#config.unhealthy_threshold) {
        state.activeHealthy = false;
        this.#events.changed(state, false, detail);
      }
    }
  }
}

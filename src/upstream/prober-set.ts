import type { HealthCheckConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { HealthProber } from './active-health.ts';
import type { TargetState } from './target-state.ts';
import type { UpstreamClient } from './upstream-client.ts';

/**
 * The active health probers that run, one per upstream state (keyed as the registry keys its
 * states). A prober whose route's `health_check` did not change keeps running across reloads
 * and endpoint updates; one whose settings changed is replaced.
 */
export class ProberSet {
  readonly #probers = new Map<string, { prober: HealthProber; config: string }>();
  readonly #log: Logger;
  readonly #client: UpstreamClient;

  constructor(log: Logger, client: UpstreamClient) {
    this.#log = log;
    this.#client = client;
  }

  ensure(key: string, state: TargetState, check: HealthCheckConfig): void {
    const config = JSON.stringify(check);
    const existing = this.#probers.get(key);
    if (existing?.config === config) return;
    existing?.prober.stop();
    const prober = new HealthProber(state, check, this.#client, {
      changed: (s, healthy, detail) =>
        this.#log[healthy ? 'info' : 'warn'](
          { site: s.site, route: s.route, upstream: s.target.url, detail },
          healthy ? 'upstream healthy again (health check)' : 'upstream unhealthy (health check)',
        ),
    });
    this.#probers.set(key, { prober, config });
    prober.start();
  }

  /** False when no prober ran for `key`. */
  stop(key: string): boolean {
    const entry = this.#probers.get(key);
    if (entry === undefined) return false;
    entry.prober.stop();
    this.#probers.delete(key);
    return true;
  }

  stopAll(): void {
    for (const { prober } of this.#probers.values()) prober.stop();
    this.#probers.clear();
  }
}

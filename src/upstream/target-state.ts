import type { Failure } from '../http1/upstream-error.ts';
import type { PassiveHealth, UpstreamTarget } from '../routing/route.ts';

/**
 * One upstream of one route, as it runs: requests in flight, passive health (consecutive
 * failures, ejection), active health (set by the prober), and the plain counters the metrics
 * read at scrape time. Kept by the registry under (site, route path, url), so a reload that
 * recompiles the route keeps what was learnt about the upstream.
 */
export class TargetState {
  target: UpstreamTarget;
  readonly site: string;
  readonly route: string;
  inFlight = 0;
  /** Smooth weighted round robin's running weight (balancer.ts). */
  currentWeight = 0;
  /** False once the active health check counted `unhealthy_threshold` failures in a row. */
  activeHealthy = true;
  ejectedUntil = 0;
  #failures = 0;
  /** Back from an ejection: one more failure ejects it again at once. */
  #probation = false;

  requests = 0;
  ejections = 0;
  retries = 0;
  retriesRefused = 0;
  readonly failures = new Map<Failure, number>();

  constructor(site: string, route: string, target: UpstreamTarget) {
    this.site = site;
    this.route = route;
    this.target = target;
  }

  available(now: number): boolean {
    return this.activeHealthy && now >= this.ejectedUntil;
  }

  succeeded(): void {
    this.#failures = 0;
    this.#probation = false;
  }

  /** Counts a failed attempt; true when it ejected the upstream. */
  failed(reason: Failure, now: number, passive: PassiveHealth | undefined): boolean {
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    if (passive === undefined || now < this.ejectedUntil) return false;
    this.#failures++;
    if (!this.#probation && this.#failures < passive.consecutiveFailures) return false;
    this.ejectedUntil = now + passive.ejectionMs;
    this.ejections++;
    this.#failures = 0;
    this.#probation = true;
    return true;
  }
}

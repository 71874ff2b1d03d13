import type { Logger } from '../log.ts';
import { compiledSites } from '../routing/route-table.ts';
import type { CompiledSite, RouteTable } from '../routing/route-table.ts';
import type { Route, UpstreamTarget } from '../routing/route.ts';
import { HealthProber } from './active-health.ts';
import { Balancer } from './balancer.ts';
import { RetryBudget } from './retry-budget.ts';
import { TargetState } from './target-state.ts';
import type { UpstreamClient } from './upstream-client.ts';
import type { Failure } from '../http1/upstream-error.ts';

/** What one route keeps across reloads that recompile it: its budget, balancer and panics. */
class RouteShared {
  readonly site: string;
  readonly route: string;
  readonly budget = new RetryBudget();
  balancer: Balancer;
  mode: string;
  panics = 0;
  lastPanicLog = 0;

  constructor(route: Route) {
    this.site = route.site;
    this.route = route.path;
    this.balancer = new Balancer(route.balance);
    this.mode = route.balance;
  }
}

/** A route's upstreams as they run, found once per Route object. */
export interface RouteRuntime {
  readonly route: Route;
  readonly states: readonly TargetState[];
  readonly shared: RouteShared;
  /** Told by the balancer when no upstream was available (made once, not per request). */
  readonly panicked: (now: number) => void;
}

const PANIC_LOG_INTERVAL_MS = 10_000;

/**
 * Everything the proxy learns about upstreams at run time (load, passive and active health,
 * retry budgets, per-upstream counters), outside the frozen config snapshot. State is keyed
 * by site, route path and upstream URL, so a reload that recompiles a route keeps it; a
 * reload that removes the route or the upstream drops it (`reconcile`, after every applied
 * config), and starts or stops the active health probers to match the new config.
 */
export class UpstreamRegistry {
  readonly #runtimes = new WeakMap<Route, RouteRuntime>();
  readonly #states = new Map<string, TargetState>();
  readonly #routes = new Map<string, RouteShared>();
  readonly #probers = new Map<string, { prober: HealthProber; config: string }>();
  /** The compiled sites of the table last reconciled. */
  #sites = new Set<CompiledSite>();
  readonly #log: Logger;
  /** Health probes go through the same pools as the traffic they judge. */
  readonly #client: UpstreamClient;

  constructor(log: Logger, client: UpstreamClient) {
    this.#log = log;
    this.#client = client;
  }

  runtime(route: Route): RouteRuntime {
    let runtime = this.#runtimes.get(route);
    if (runtime === undefined) {
      const made: RouteRuntime = {
        route,
        states: route.upstreams.map((t) => this.#state(route, t)),
        shared: this.#shared(route),
        panicked: (now) => this.#panicked(made, now),
      };
      runtime = made;
      this.#runtimes.set(route, runtime);
    }
    return runtime;
  }

  /** The upstream for the next attempt (see Balancer). */
  pick(runtime: RouteRuntime, tried?: readonly TargetState[]): TargetState {
    return runtime.shared.balancer.pick(runtime.states, Date.now(), tried, runtime.panicked);
  }

  /** An attempt at `state` begins: it counts in the upstream's load and its requests. */
  attemptStarted(state: TargetState): void {
    state.inFlight++;
    state.requests++;
  }

  /**
   * ...and ends: its load is given back and passive health hears what it said of the
   * upstream (undefined: a usable answer; null: nothing, as when the client left first).
   */
  attemptEnded(
    runtime: RouteRuntime,
    state: TargetState,
    failure: Failure | null | undefined,
  ): void {
    state.inFlight--;
    if (failure === undefined) state.succeeded();
    else if (failure !== null) this.failed(runtime, state, failure);
  }

  /** Passive health: an attempt's outcome. */
  failed(runtime: RouteRuntime, state: TargetState, reason: Failure): void {
    const passive = runtime.route.passiveHealth;
    if (!state.failed(reason, Date.now(), passive) || passive === undefined) return;
    this.#log.warn(
      {
        site: state.site,
        route: state.route,
        upstream: state.target.url,
        reason,
        ejection_ms: passive.ejectionMs,
      },
      `upstream ejected after ${passive.consecutiveFailures} failures in a row`,
    );
  }

  #panicked(runtime: RouteRuntime, now: number): void {
    const shared = runtime.shared;
    shared.panics++;
    if (now - shared.lastPanicLog < PANIC_LOG_INTERVAL_MS) return;
    shared.lastPanicLog = now;
    this.#log.warn(
      { site: shared.site, route: shared.route, upstreams: runtime.states.length },
      'every upstream of the route is unhealthy: trying them anyway (panic)',
    );
  }

  #state(route: Route, target: UpstreamTarget): TargetState {
    const key = `${route.site}\0${route.path}\0${target.url}`;
    let state = this.#states.get(key);
    if (state === undefined) {
      state = new TargetState(route.site, route.path, target);
      this.#states.set(key, state);
    }
    state.target = target; // a new weight takes effect; what was learnt stays
    return state;
  }

  #shared(route: Route): RouteShared {
    const key = `${route.site}\0${route.path}`;
    let shared = this.#routes.get(key);
    if (shared === undefined) {
      shared = new RouteShared(route);
      this.#routes.set(key, shared);
    } else if (shared.mode !== route.balance) {
      shared.balancer = new Balancer(route.balance);
      shared.mode = route.balance;
    }
    return shared;
  }

  /**
   * After a config was applied: drop what it removed, (re)start the probers it configures.
   * Only the sites the reload changed are looked at (a changed site is a new compiled object;
   * compiledSites), so a reload of one site in 10,000 costs what that site costs.
   */
  reconcile(table: RouteTable): void {
    const current = compiledSites(table);
    const added = [...current].filter((site) => !this.#sites.has(site));
    const removed = [...this.#sites].filter((site) => !current.has(site));
    this.#sites = current;
    const keptStates = new Set<string>();
    const keptRoutes = new Set<string>();
    for (const site of added) {
      for (const route of site.routes) {
        keptRoutes.add(`${route.site}\0${route.path}`);
        for (const target of route.upstreams) {
          const key = `${route.site}\0${route.path}\0${target.url}`;
          keptStates.add(key);
          if (route.healthCheck !== undefined) this.#ensureProber(key, route, target);
          else this.#stopProber(key);
        }
      }
    }
    for (const site of removed) {
      for (const route of site.routes) {
        const routeKey = `${route.site}\0${route.path}`;
        if (!keptRoutes.has(routeKey)) this.#routes.delete(routeKey);
        for (const target of route.upstreams) {
          const key = `${routeKey}\0${target.url}`;
          if (keptStates.has(key)) continue;
          this.#stopProber(key);
          this.#states.delete(key);
        }
      }
    }
  }

  #stopProber(key: string): void {
    const entry = this.#probers.get(key);
    if (entry === undefined) return;
    entry.prober.stop();
    this.#probers.delete(key);
    const state = this.#states.get(key);
    if (state !== undefined) state.activeHealthy = true;
  }

  #ensureProber(key: string, route: Route, target: UpstreamTarget): void {
    const check = route.healthCheck;
    if (check === undefined) return;
    const config = JSON.stringify(check);
    const existing = this.#probers.get(key);
    if (existing?.config === config) return;
    existing?.prober.stop();
    const state = this.#state(route, target);
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

  /** Every upstream's state, for the metrics at scrape time. */
  states(): IterableIterator<TargetState> {
    return this.#states.values();
  }

  routes(): IterableIterator<RouteShared> {
    return this.#routes.values();
  }

  close(): void {
    for (const { prober } of this.#probers.values()) prober.stop();
    this.#probers.clear();
  }
}

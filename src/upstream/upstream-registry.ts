import type { Logger } from '../log.ts';
import { compiledSites } from '../routing/route-table.ts';
import type { CompiledSite, RouteTable } from '../routing/route-table.ts';
import type { Route, UpstreamTarget } from '../routing/route.ts';
import { ProberSet } from './prober-set.ts';
import { RouteShared } from './route-shared.ts';
import { TargetState } from './target-state.ts';
import type { UpstreamClient } from './upstream-client.ts';
import type { Failure } from '../http1/upstream-error.ts';
import type { Affinity } from '../routing/affinity.ts';
import { EndpointTable } from '../endpoints/endpoint-table.ts';
import { serviceTargets, servicesChanged } from './service-targets.ts';

/** A route's upstreams as they run, found once per Route object. */
export interface RouteRuntime {
  readonly route: Route;
  /**
   * Replaced whole (never edited) when an endpoint update changes a service route's targets;
   * a request reads it at each pick, so its retries see the update too.
   */
  states: readonly TargetState[];
  /** The route's `affinity` over `states` (a service route's follows its endpoints). */
  affinity: Affinity | undefined;
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
  readonly #probers: ProberSet;
  /** The compiled sites of the table last reconciled. */
  #sites = new Set<CompiledSite>();
  /** The routes of those sites with service entries: what an endpoint update walks. */
  readonly #serviceRoutes = new Set<Route>();
  #endpoints = new EndpointTable(undefined);
  readonly #log: Logger;
  /** Health probes go through the same pools as the traffic they judge. */
  readonly #client: UpstreamClient;

  constructor(log: Logger, client: UpstreamClient) {
    this.#log = log;
    this.#client = client;
    this.#probers = new ProberSet(log, client);
  }

  runtime(route: Route): RouteRuntime {
    let runtime = this.#runtimes.get(route);
    if (runtime === undefined) {
      const states = this.#targets(route).map((t) => this.#state(route, t));
      const made: RouteRuntime = {
        route,
        states,
        affinity: affinityOf(route, states),
        shared: this.#shared(route),
        panicked: (now) => this.#panicked(made, now),
      };
      runtime = made;
      this.#runtimes.set(route, runtime);
    }
    return runtime;
  }

  #targets(route: Route): readonly UpstreamTarget[] {
    return route.services === undefined ? route.upstreams : serviceTargets(route, this.#endpoints);
  }

  /** The endpoint table serving now (every service route's targets come from it). */
  get endpoints(): EndpointTable {
    return this.#endpoints;
  }

  /**
   * An endpoint update, without a config revision: every route of the serving table whose
   * services changed gets its new target list in one assignment. States of addresses that stay
   * are the same objects (load, ejections, probes go on); the others are dropped, requests
   * already on them finish with the objects they hold, and idle connections to origins no
   * route uses any more are closed.
   */
  applyEndpoints(table: EndpointTable): void {
    const previous = this.#endpoints;
    this.#endpoints = table;
    const dropped: TargetState[] = [];
    for (const route of this.#serviceRoutes) {
      const existing = this.#runtimes.get(route);
      if (existing !== undefined && !servicesChanged(route, previous, table)) continue;
      const runtime = this.runtime(route);
      const before = runtime.states;
      if (existing !== undefined) {
        const states = this.#targets(route).map((t) => this.#state(route, t));
        // Both in one synchronous step: no request sees the new states with the old affinity.
        runtime.affinity = affinityOf(route, states);
        runtime.states = states;
      }
      const kept = new Set(runtime.states);
      for (const state of before) if (!kept.has(state)) dropped.push(state);
      if (route.healthCheck !== undefined) {
        for (const state of runtime.states)
          this.#ensureProber(stateKey(route, state.target), route, state.target);
      }
    }
    this.#dropStates(dropped);
  }

  /** Forgets states no route holds any more, and closes idle connections to their origins. */
  #dropStates(dropped: readonly TargetState[]): void {
    if (dropped.length === 0) return;
    const origins = new Set<string>();
    for (const state of dropped) {
      const key = `${state.site}\0${state.route}\0${state.target.url}`;
      if (this.#states.get(key) !== state) continue;
      this.#stopProber(key);
      this.#states.delete(key);
      origins.add(state.target.origin);
    }
    for (const state of this.#states.values()) origins.delete(state.target.origin);
    this.#client.retire(origins);
  }

  /** The upstream for the next attempt (see Balancer). */
  pick(runtime: RouteRuntime, tried?: readonly TargetState[]): TargetState {
    const states = runtime.states;
    // An endpoint update emptied a service route while this request was retrying: it tries
    // the last one again rather than nothing (a first attempt never gets here: engine.ts
    // answers no_endpoints before).
    const last = tried?.[tried.length - 1];
    if (states.length === 0 && last !== undefined) return last;
    return runtime.shared.balancer.pick(states, Date.now(), tried, runtime.panicked);
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
    const key = stateKey(route, target);
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
    } else shared.follow(route);
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
        if (route.services !== undefined) this.#serviceRoutes.add(route);
        // A service route's targets are its runtime's: made now from the endpoint table.
        const targets =
          route.services === undefined
            ? route.upstreams
            : this.runtime(route).states.map((s) => s.target);
        for (const target of targets) {
          const key = stateKey(route, target);
          keptStates.add(key);
          if (route.healthCheck !== undefined) this.#ensureProber(key, route, target);
          else this.#stopProber(key);
        }
      }
    }
    const dropped: TargetState[] = [];
    for (const site of removed) {
      for (const route of site.routes) {
        const routeKey = `${route.site}\0${route.path}`;
        if (!keptRoutes.has(routeKey)) this.#routes.delete(routeKey);
        this.#serviceRoutes.delete(route);
        const targets =
          route.services === undefined
            ? route.upstreams
            : (this.#runtimes.get(route)?.states ?? []).map((s) => s.target);
        for (const target of targets) {
          const key = stateKey(route, target);
          if (keptStates.has(key)) continue;
          const state = this.#states.get(key);
          if (route.services !== undefined && state !== undefined) dropped.push(state);
          else {
            this.#stopProber(key);
            this.#states.delete(key);
          }
        }
      }
    }
    this.#dropStates(dropped);
  }

  #stopProber(key: string): void {
    if (!this.#probers.stop(key)) return;
    // Without a prober, active health has no say: the upstream counts as healthy for it.
    const state = this.#states.get(key);
    if (state !== undefined) state.activeHealthy = true;
  }

  #ensureProber(key: string, route: Route, target: UpstreamTarget): void {
    if (route.healthCheck === undefined) return;
    this.#probers.ensure(key, this.#state(route, target), route.healthCheck);
  }

  states(): IterableIterator<TargetState> {
    return this.#states.values();
  }

  routes(): IterableIterator<RouteShared> {
    return this.#routes.values();
  }

  close(): void {
    this.#probers.stopAll();
    this.#serviceRoutes.clear();
  }
}

function affinityOf(route: Route, states: readonly TargetState[]): Affinity | undefined {
  if (route.affinityFor === undefined) return route.affinity;
  return route.affinityFor(states.map((s) => s.target.url));
}

/** A state's key: site, route and upstream URL (an endpoint's is `http://address:port`). */
function stateKey(route: Route, target: UpstreamTarget): string {
  return `${route.site}\0${route.path}\0${target.url}`;
}

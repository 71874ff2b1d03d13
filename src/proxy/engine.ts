import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Agent } from 'undici';
import type { UpstreamPoolConfig } from '../config/types.ts';
import type { Route } from '../routing/route.ts';
import { replayable } from '../upstream/retry-policy.ts';
import { RotatingPool } from '../upstream/rotating-pool.ts';
import type { AttemptFailure, TargetState } from '../upstream/target-state.ts';
import type { RouteRuntime, UpstreamRegistry } from '../upstream/upstream-registry.ts';
import type { ClientHop } from './forward-headers.ts';
import { dispatchUpgrade } from './upgrade-exchange.ts';
import type { UpgradeHooks } from './upgrade-exchange.ts';
import { UPSTREAM_BUSY_CODE } from './upstream-errors.ts';
import { UpstreamExchange } from './upstream-exchange.ts';
import type { ExchangeHooks } from './upstream-exchange.ts';
import { dispatchWeb, forwardedHeaders, requestHasBody } from './web-proxy.ts';

/** Forwards a request whose route is already chosen. One instance for the process's life. */
export interface ProxyEngine {
  /** `onComplete` is called once when the exchange ended with a response (not a client abort). */
  web(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    hop: ClientHop,
    onComplete?: CompletionHandler,
  ): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: Route, hop: ClientHop): void;
  /** Each origin's pool as the metrics show it. */
  pools(): PoolFigures[];
  /** Closes idle upstream connections (at exit). */
  close(): void;
}

export interface PoolFigures {
  readonly origin: string;
  /** Exchanges started and not yet settled, waiting ones included. */
  readonly inFlight: number;
  readonly connected: number;
  readonly queued: number;
}

export interface EngineEvents {
  /** Called at most once per request, for the failure that ended its upstream exchange. */
  onError(
    err: Error,
    req: IncomingMessage,
    target: ServerResponse | Socket,
    route: Route,
    upstream: string,
  ): void;
}

/** Told of every plain request that ended, in full or with an error response. */
export type CompletionHandler = (res: ServerResponse, route: Route, seconds: number) => void;

/**
 * One engine for every request: plain ones, `Expect: 100-continue` ones and WebSocket
 * handshakes all pick their upstream the same way (the registry's balancer and health) and go
 * through undici Agents, one per distinct `timeouts.connect_ms`, whose pools (one per upstream
 * origin) hand requests to the connection idle longest (rotating-pool.ts). A pool holds at
 * most `upstream_pool.max_connections` connections; requests beyond wait in its queue, and
 * beyond `max_queued` waiting ones a request is answered 503 at once instead of piling up.
 * A failed attempt is tried again where retry-policy.ts and the route's budget allow.
 */
export function createProxyEngine(
  events: EngineEvents,
  pool: UpstreamPoolConfig,
  registry: UpstreamRegistry,
): ProxyEngine {
  const agents = new Agents(pool.max_connections);
  const load = new OriginLoad(pool.max_connections + pool.max_queued);
  const seconds = (x: UpstreamExchange) => (performance.now() - x.startedAt) / 1000;
  /** An attempt (plain or upgrade) takes its place in the origin's load; false: it is full. */
  const begin = (state: TargetState): boolean => {
    if (!load.take(state.target.origin)) return false;
    state.inFlight++;
    state.requests++;
    return true;
  };
  /** ...and gives it back, telling passive health what the attempt said of the upstream. */
  const end = (
    runtime: RouteRuntime,
    state: TargetState,
    failure: AttemptFailure | null | undefined,
  ) => {
    state.inFlight--;
    load.release(state.target.origin);
    if (failure === undefined) state.succeeded();
    else if (failure !== null) registry.failed(runtime, state, failure);
  };
  const webHooks: ExchangeHooks = {
    dispatch(x, attempt) {
      if (!begin(attempt.state)) return x.fail(attempt, busy(attempt.state.target.origin));
      attempt.holdsLoad = true;
      dispatchWeb(agents.for(x.route.connectMs), x, attempt);
    },
    attemptEnded(x, attempt, failure) {
      // A refusal by the pool cap never reached the upstream: nothing to release.
      if (attempt.holdsLoad) end(x.runtime, attempt.state, failure);
    },
    retry(x, failed, failure) {
      const route = x.route;
      if (x.tried.length > route.retryAttempts) return undefined;
      if (!replayable(x.req, requestHasBody(x.req), failure)) return undefined;
      if (!x.runtime.shared.budget.tryRetry(Date.now(), route.retryBudgetPercent)) {
        failed.state.retriesRefused++;
        return undefined;
      }
      failed.state.retries++;
      return registry.pick(x.runtime, x.tried);
    },
    complete: (x) => x.onComplete?.(x.res, x.route, seconds(x)),
    // The error response (or the cut, once headers went out) is counted like any other.
    failed: (x, err) => {
      events.onError(err, x.req, x.res, x.route, x.current?.state.target.url ?? '');
      x.onComplete?.(x.res, x.route, seconds(x));
    },
  };
  const upgradeHooks: UpgradeHooks = {
    failed: (x, err) => events.onError(err, x.req, x.client, x.route, x.state.target.url),
    attemptEnded: (x, failure) => end(registry.runtime(x.route), x.state, failure),
  };
  return {
    web(req, res, route, hop, onComplete) {
      const runtime = registry.runtime(route);
      if (route.retryAttempts > 0) runtime.shared.budget.request(Date.now());
      const exchange = new UpstreamExchange(
        req,
        res,
        runtime,
        forwardedHeaders(req, route, hop),
        webHooks,
        onComplete,
      );
      exchange.attempt(registry.pick(runtime));
    },
    upgrade(req, socket, head, route, hop) {
      const state = registry.pick(registry.runtime(route));
      const { origin, url } = state.target;
      if (!begin(state)) return events.onError(busy(origin), req, socket, route, url);
      dispatchUpgrade(
        agents.for(route.connectMs),
        upgradeHooks,
        req,
        socket,
        head,
        route,
        state,
        hop,
      );
    },
    pools() {
      const stats = agents.stats();
      return load.origins().map(([origin, inFlight]) => ({
        origin,
        inFlight,
        connected: stats.get(origin)?.connected ?? 0,
        queued: stats.get(origin)?.queued ?? 0,
      }));
    },
    close() {
      agents.close();
    },
  };
}

function busy(origin: string): Error {
  return Object.assign(new Error(`upstream ${origin}: pool and queue are full`), {
    code: UPSTREAM_BUSY_CODE,
  });
}

/**
 * The Agents, one per connect timeout in use (undici sets it per Agent). Routes that share an
 * origin and a connect timeout share its pool; most configs have one Agent.
 */
class Agents {
  readonly #byConnectMs = new Map<number, Agent>();
  readonly #connections: number;

  constructor(connections: number) {
    this.#connections = connections;
  }

  for(connectMs: number): Agent {
    let agent = this.#byConnectMs.get(connectMs);
    if (agent === undefined) {
      agent = new Agent({
        // Upstreams that send no Keep-Alive hint keep idle connections for a minute; the hint wins.
        keepAliveTimeout: 60_000,
        keepAliveMaxTimeout: 600_000,
        connections: this.#connections,
        connect: { noDelay: true, timeout: connectMs },
        factory: (origin, options) => new RotatingPool(origin, options),
      });
      this.#byConnectMs.set(connectMs, agent);
    }
    return agent;
  }

  stats(): Map<string, { connected: number; queued: number }> {
    const sum = new Map<string, { connected: number; queued: number }>();
    for (const agent of this.#byConnectMs.values()) {
      const stats = agent.stats as Record<string, { connected?: number; queued?: number }>;
      for (const [origin, s] of Object.entries(stats)) {
        const into = sum.get(origin) ?? { connected: 0, queued: 0 };
        into.connected += s.connected ?? 0;
        into.queued += s.queued ?? 0;
        sum.set(origin, into);
      }
    }
    return sum;
  }

  close(): void {
    for (const agent of this.#byConnectMs.values()) void agent.destroy().catch(() => undefined);
  }
}

/** Exchanges in flight per origin, counted so the queue has a bound undici does not give. */
class OriginLoad {
  readonly #limit: number;
  readonly #counts = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  take(origin: string): boolean {
    const n = this.#counts.get(origin) ?? 0;
    if (n >= this.#limit) return false;
    this.#counts.set(origin, n + 1);
    return true;
  }

  release(origin: string): void {
    this.#counts.set(origin, (this.#counts.get(origin) ?? 1) - 1);
  }

  origins(): [string, number][] {
    return [...this.#counts];
  }
}

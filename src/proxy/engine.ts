import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Agent } from 'undici';
import type { UpstreamPoolConfig } from '../config/types.ts';
import type { Route } from '../routing/route-table.ts';
import type { ClientHop } from './forward-headers.ts';
import { dispatchUpgrade } from './upgrade-exchange.ts';
import type { UpgradeHooks } from './upgrade-exchange.ts';
import { UPSTREAM_BUSY_CODE } from './upstream-errors.ts';
import type { ExchangeHooks, UpstreamExchange } from './upstream-exchange.ts';
import { dispatchWeb } from './web-proxy.ts';

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
  /** Called at most once per request, for any failure of the upstream exchange. */
  onError(err: Error, req: IncomingMessage, target: ServerResponse | Socket, route: Route): void;
}

/** Told of every plain request that ended, in full or with an error response. */
export type CompletionHandler = (res: ServerResponse, route: Route, seconds: number) => void;

/**
 * One engine for every request: plain ones, `Expect: 100-continue` ones and WebSocket
 * handshakes all go through one undici Agent, so they share one header sanitation
 * (forward-headers.ts) and one pool per upstream origin. A pool holds at most
 * `upstream_pool.max_connections` connections; requests beyond wait in its queue, and beyond
 * `max_queued` waiting ones a request is answered 503 at once instead of piling up.
 */
export function createProxyEngine(events: EngineEvents, pool: UpstreamPoolConfig): ProxyEngine {
  const agent = new Agent({
    // Upstreams that send no Keep-Alive hint keep idle connections for a minute; the hint wins.
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    connections: pool.max_connections,
    connect: { noDelay: true },
  });
  const load = new OriginLoad(pool.max_connections + pool.max_queued);
  const seconds = (x: UpstreamExchange) => (performance.now() - x.startedAt) / 1000;
  const webHooks: ExchangeHooks = {
    complete: (x) => x.onComplete?.(x.res, x.route, seconds(x)),
    // The error response (or the cut, once headers went out) is counted like any other.
    failed: (x, err) => {
      events.onError(err, x.req, x.res, x.route);
      x.onComplete?.(x.res, x.route, seconds(x));
    },
    settled: (x) => load.release(x.route.origin),
  };
  const upgradeHooks: UpgradeHooks = {
    failed: (x, err) => events.onError(err, x.req, x.client, x.route),
    settled: (x) => load.release(x.route.origin),
  };
  return {
    web(req, res, route, hop, onComplete) {
      if (!load.take(route.origin)) {
        events.onError(busy(route), req, res, route);
        onComplete?.(res, route, 0);
        return;
      }
      dispatchWeb(agent, webHooks, req, res, route, hop, onComplete);
    },
    upgrade(req, socket, head, route, hop) {
      if (!load.take(route.origin)) return events.onError(busy(route), req, socket, route);
      dispatchUpgrade(agent, upgradeHooks, req, socket, head, route, hop);
    },
    pools() {
      const stats = agent.stats as Record<string, { connected?: number; queued?: number }>;
      return load.origins().map(([origin, inFlight]) => ({
        origin,
        inFlight,
        connected: stats[origin]?.connected ?? 0,
        queued: stats[origin]?.queued ?? 0,
      }));
    },
    close() {
      void agent.destroy().catch(() => undefined);
    },
  };
}

function busy(route: Route): Error {
  return Object.assign(new Error(`upstream ${route.origin}: pool and queue are full`), {
    code: UPSTREAM_BUSY_CODE,
  });
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

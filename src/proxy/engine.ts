import type { Socket } from 'node:net';
import type { UpstreamError } from '../http1/upstream-error.ts';
import type { Route } from '../routing/route.ts';
import type { PoolFigures } from '../upstream/origin-pool.ts';
import type { UpstreamClient } from '../upstream/upstream-client.ts';
import type { UpstreamRegistry } from '../upstream/upstream-registry.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import { Exchange } from './exchange.ts';
import type { ExchangeListener } from './exchange.ts';
import type { ClientHop } from './forward-headers.ts';
import { forwardedHeaders } from './forward-headers.ts';
import { Tunnel } from './tunnel.ts';
import type { RequestIdentity } from './request-identity.ts';
import type { HeaderPatch } from '../access/request-gate.ts';
import { noEndpoints, noEndpointsEnd } from './no-endpoints.ts';

export type { PoolFigures };

/** Forwards a request whose route is already chosen. One instance for the process's life. */
export interface ProxyEngine {
  /** `onEnd` is told once when the exchange is over, unless the client left first. */
  web(
    req: ClientRequest,
    res: ClientResponse,
    route: Route,
    hop: ClientHop,
    identity: RequestIdentity,
    onEnd?: ExchangeListener,
    patch?: HeaderPatch,
  ): void;
  upgrade(
    req: ClientRequest,
    socket: Socket,
    head: Buffer,
    route: Route,
    hop: ClientHop,
    identity: RequestIdentity,
    patch?: HeaderPatch,
  ): void;
  /** Each origin's pool as the metrics show it. */
  pools(): PoolFigures[];
  /** Closes idle upstream connections (at exit). */
  close(): void;
}

/** A handshake that failed for good: the caller answers on the raw socket. */
export type UpgradeFailed = (
  req: ClientRequest,
  socket: Socket,
  route: Route,
  upstream: string,
  err: UpstreamError,
  identity: RequestIdentity,
) => void;

/**
 * Idle upstream connections close after this long: shorter than the keep-alive timeouts of
 * common upstream servers (Node 5 s, Apache 5 s), so that an upstream rarely closes a
 * connection just as a request goes out on it.
 */
export const UPSTREAM_IDLE_MS = 4_000;

/**
 * One engine for every request: plain ones and WebSocket handshakes pick their upstream the
 * same way (the registry's balancer and health) and take connections from the same pools
 * (upstream-client.ts), one per origin, capped by `upstream_pool`.
 */
export function createProxyEngine(
  client: UpstreamClient,
  registry: UpstreamRegistry,
  onUpgradeFailed: UpgradeFailed,
): ProxyEngine {
  const deps = { client, registry };
  return {
    web(req, res, route, hop, identity, onEnd, patch) {
      const runtime = registry.runtime(route);
      if (runtime.states.length === 0) return onEnd?.(noEndpointsEnd(res, route, identity));
      const headers = forwardedHeaders(req, route, hop, identity, patch);
      new Exchange(req, res, runtime, headers, identity, deps, onEnd).start();
    },
    upgrade(req, socket, head, route, hop, identity, patch) {
      const runtime = registry.runtime(route);
      if (runtime.states.length === 0) {
        return onUpgradeFailed(req, socket, route, '', noEndpoints(route), identity);
      }
      const headers = forwardedHeaders(req, route, hop, identity, patch);
      new Tunnel(req, socket, head, runtime, headers, deps, (tunnel, err) =>
        onUpgradeFailed(req, socket, route, tunnel.state.target.url, err, identity),
      ).start();
    },
    pools: () => client.figures(),
    close: () => client.close(),
  };
}

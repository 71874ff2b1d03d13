import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Route } from '../routing/route-table.ts';
import { createHpmProxy } from './hpm-proxy.ts';
import type { UpstreamExchange } from './upstream-exchange.ts';
import { createWebProxy, EXPECTS_CONTINUE, HAS_BODY, requestFlags } from './web-proxy.ts';

/** Forwards a request whose route is already chosen. One instance for the process's life. */
export interface ProxyEngine {
  /** `onComplete` is called once when the exchange ended with a response (not a client abort). */
  web(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    onComplete?: CompletionHandler,
  ): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: Route): void;
  /** Closes idle upstream connections (at exit). */
  close(): void;
}

export interface EngineEvents {
  /** Called at most once per request, for any failure of the upstream exchange. */
  onError(err: Error, req: IncomingMessage, target: ServerResponse | Socket, route: Route): void;
}

/** Told of every plain request that ended, in full or with an error response. */
export type CompletionHandler = (res: ServerResponse, route: Route, seconds: number) => void;

/**
 * Plain HTTP through undici (web-proxy.ts); upgrades and `Expect: 100-continue` requests,
 * which undici does not carry, through http-proxy-middleware (hpm-proxy.ts). Measured on the
 * benchmark (docs/performance.md): the undici path carries 2-3x the requests of
 * http-proxy-middleware on the same core, which pipes through Node's http.request and a
 * per-request ClientRequest, IncomingMessage and listeners.
 */
export function createProxyEngine(events: EngineEvents): ProxyEngine {
  const seconds = (x: UpstreamExchange) => (performance.now() - x.startedAt) / 1000;
  const webProxy = createWebProxy({
    complete: (x) => x.onComplete?.(x.res, x.route, seconds(x)),
    // The error response (or the cut, once headers went out) is counted like any other.
    failed: (x, err) => {
      events.onError(err, x.req, x.res, x.route);
      x.onComplete?.(x.res, x.route, seconds(x));
    },
  });
  const hpmProxy = createHpmProxy(events.onError);
  return {
    web(req, res, route, onComplete) {
      const flags = requestFlags(req.rawHeaders);
      if ((flags & EXPECTS_CONTINUE) !== 0) hpmProxy.web(req, res, route, onComplete);
      else webProxy.web(req, res, route, onComplete, (flags & HAS_BODY) !== 0);
    },
    upgrade: hpmProxy.upgrade,
    close() {
      webProxy.close();
      hpmProxy.close();
    },
  };
}

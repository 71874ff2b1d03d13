import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import type { Route } from '../routing/route-table.ts';
import type { CompletionHandler } from './engine.ts';
import { upstreamPath } from '../routing/route-table.ts';
import { upstreamHeaders } from './forward-headers.ts';
import { UpstreamExchange } from './upstream-exchange.ts';
import type { ExchangeHooks } from './upstream-exchange.ts';

/** Forwards plain HTTP requests; WebSocket upgrades go elsewhere (see engine.ts). */
export interface WebProxy {
  web(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    onComplete: CompletionHandler | undefined,
    hasBody: boolean,
  ): void;
  close(): void;
}

/**
 * undici for plain HTTP: one Agent for the process, holding one keep-alive pool per upstream
 * origin. Pools have no connection cap: they grow to the load (one connection per request in
 * flight, what nginx's `keepalive` sized to the load gives) and keep them for the next ones.
 * The request is dispatched with a handler that writes into the client's response directly.
 */
export function createWebProxy(hooks: ExchangeHooks): WebProxy {
  const agent = new Agent({
    // Upstreams that send no Keep-Alive hint keep idle connections for a minute; the hint wins.
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    connect: { noDelay: true },
  });
  return {
    web(req, res, route, onComplete, hasBody) {
      const exchange = new UpstreamExchange(req, res, route, performance.now(), hooks, onComplete);
      const options: Dispatcher.DispatchOptions = {
        origin: route.origin,
        path: upstreamPath(route, req.url ?? '/'),
        method: req.method as Dispatcher.HttpMethod,
        headers: upstreamHeaders(req.rawHeaders, req.socket.remoteAddress ?? '', 'http'),
        body: hasBody ? req : null,
        // The route's timeout bounds the upstream's silence: before the response headers and
        // between body chunks (maps to 504).
        headersTimeout: route.timeoutMs,
        bodyTimeout: route.timeoutMs,
      };
      try {
        agent.dispatch(options, exchange);
      } catch (err) {
        exchange.fail(err as Error);
      }
    },
    close() {
      void agent.destroy().catch(() => undefined);
    },
  };
}

/** What the engine needs to know of a request's headers before it picks a path. */
export const HAS_BODY = 1;
export const EXPECTS_CONTINUE = 2;

/**
 * One pass over the raw headers: a body (Content-Length other than 0, or Transfer-Encoding;
 * a GET without one must not look like a stream to undici) and `Expect`.
 */
export function requestFlags(raw: readonly string[]): number {
  let flags = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (raw[i + 1] !== '0') flags |= HAS_BODY;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      flags |= HAS_BODY;
    } else if (name.length === 6 && name.toLowerCase() === 'expect') {
      flags |= EXPECTS_CONTINUE;
    }
  }
  return flags;
}

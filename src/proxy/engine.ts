import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Plugin } from 'http-proxy-middleware';
import type { Route } from '../routing/route-table.ts';
import { stripHopByHop } from './headers.ts';
import { UPSTREAM_TIMEOUT_CODE } from './upstream-errors.ts';

/** Forwards a request whose route is already chosen. One instance for the process's life. */
export interface ProxyEngine {
  web(req: IncomingMessage, res: ServerResponse, route: Route): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: Route): void;
  /** Closes idle upstream connections (at exit). */
  close(): void;
}

export interface EngineEvents {
  /** Called at most once per request, for any failure of the upstream exchange. */
  onError(err: Error, req: IncomingMessage, target: ServerResponse | Socket, route: Route): void;
}

const ROUTE = Symbol('reverse-proxy.route');
const FAILED = Symbol('reverse-proxy.failed');
interface Pinned {
  [ROUTE]?: Route;
  [FAILED]?: boolean;
}

function pinnedRoute(req: IncomingMessage): Route {
  const route = (req as Pinned)[ROUTE];
  if (route === undefined) throw new Error('request reached the engine without a route');
  return route;
}

/**
 * http-proxy-middleware, created once (a new instance per reload leaks server listeners, see
 * STYLE.md). Its router reads the route pinned on each request, so a reload never touches it.
 */
export function createProxyEngine(events: EngineEvents): ProxyEngine {
  // Node's Agent keeps one pool per host:port; keep-alive pools grow with the load and keep up
  // to maxFreeSockets idle connections per upstream. LIFO reuse keeps the warmest ones busy and
  // lets the rest expire at the upstream's Keep-Alive hint instead of racing its close.
  const agentOptions = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };

  const fail = (err: Error, req: IncomingMessage | undefined, target: ServerResponse | Socket) => {
    if (req === undefined) return;
    const pinned = req as Pinned;
    if (pinned[FAILED] === true || pinned[ROUTE] === undefined) return;
    pinned[FAILED] = true;
    events.onError(err, req, target, pinned[ROUTE]);
  };

  const plugin: Plugin = (proxyServer) => {
    proxyServer.on('error', (err, req, target) =>
      fail(err, req, target as ServerResponse | Socket),
    );
    proxyServer.on('econnreset', (err, req, res) => fail(err, req, res));
    // The route's timeout bounds the upstream's silence (before and between response bytes).
    proxyServer.on('proxyReq', (proxyReq, req) => {
      const { timeoutMs } = pinnedRoute(req);
      proxyReq.setTimeout(timeoutMs, () => {
        const err = Object.assign(new Error(`upstream silent for ${timeoutMs} ms`), {
          code: UPSTREAM_TIMEOUT_CODE,
        });
        proxyReq.destroy(err);
      });
    });
    // Runs before httpxy copies the upstream's headers to the client.
    proxyServer.on('proxyRes', (proxyRes) => stripHopByHop(proxyRes.headers));
  };

  const middleware = createProxyMiddleware({
    router: (req, _res, options) => {
      const route = pinnedRoute(req);
      // The router receives this request's own copy of the options: the agent set here
      // applies to this request only.
      options.agent = route.target.protocol === 'https:' ? agents.https : agents.http;
      // httpxy emits no proxyReq event for `Expect: 100-continue` requests, so the listener
      // below cannot arm their timeout; its own proxyTimeout bounds them instead (a silent
      // upstream then ends as 502, not 504).
      if (req.headers.expect !== undefined) options.proxyTimeout = route.timeoutMs;
      return route.target;
    },
    changeOrigin: false,
    xfwd: false,
    ws: false,
    ejectPlugins: true,
    plugins: [plugin],
  });

  const ignoreNext = () => undefined;
  return {
    web(req, res, route) {
      (req as Pinned)[ROUTE] = route;
      void middleware(req, res, ignoreNext);
    },
    upgrade(req, socket, head, route) {
      (req as Pinned)[ROUTE] = route;
      middleware.upgrade(req, socket, head);
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

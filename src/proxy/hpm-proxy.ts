import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Plugin } from 'http-proxy-middleware';
import type { Route } from '../routing/route-table.ts';
import type { ProxyEngine } from './engine.ts';
import { setForwardedHeaders, stripHopByHop } from './headers.ts';
import { UPSTREAM_TIMEOUT_CODE } from './upstream-errors.ts';

type OnError = (
  err: Error,
  req: IncomingMessage,
  target: ServerResponse | Socket,
  route: Route,
) => void;

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
/**
 * The requests undici does not carry: WebSocket (and other Upgrade) handshakes, and requests
 * with `Expect: 100-continue`, which undici refuses and which this path forwards with their
 * Expect header. Same interface as the engine it sits inside.
 */
export function createHpmProxy(onError: OnError): ProxyEngine {
  const agentOptions = { keepAlive: true, maxFreeSockets: 16, scheduling: 'lifo' as const };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };

  const fail = (err: Error, req: IncomingMessage | undefined, target: ServerResponse | Socket) => {
    if (req === undefined) return;
    const pinned = req as Pinned;
    if (pinned[FAILED] === true || pinned[ROUTE] === undefined) return;
    pinned[FAILED] = true;
    onError(err, req, target, pinned[ROUTE]);
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
      // httpxy emits no proxyReq event for `Expect: 100-continue` requests (nor for upgrades),
      // so the listener above cannot arm their timeout; its own proxyTimeout bounds them
      // instead (a silent upstream then ends as 502, not 504). Upgrades clear it once upgraded.
      options.proxyTimeout = route.timeoutMs;
      return route.target;
    },
    changeOrigin: false,
    xfwd: false,
    // The server-level upgrade listener is ours (listeners.ts), installed once.
    ws: false,
    ejectPlugins: true,
    plugins: [plugin],
  });

  const ignoreNext = () => undefined;
  return {
    web(req, res, route, onComplete) {
      (req as Pinned)[ROUTE] = route;
      stripHopByHop(req.headers);
      setForwardedHeaders(req, 'http');
      if (onComplete !== undefined) {
        const started = performance.now();
        res.once('finish', () => onComplete(res, route, (performance.now() - started) / 1000));
      }
      void middleware(req, res, ignoreNext);
    },
    upgrade(req, socket, head, route) {
      (req as Pinned)[ROUTE] = route;
      stripHopByHop(req.headers, true);
      setForwardedHeaders(req, 'http');
      middleware.upgrade(req, socket, head);
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConfigStore } from '../config/store.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { matchRoute } from '../routing/route-table.ts';
import type { Route } from '../routing/route-table.ts';
import type { ProxyEngine } from './engine.ts';
import { rawHost } from './forward-headers.ts';
import {
  classifyUpstreamError,
  sendError,
  sendErrorOnSocket,
  statusForFailure,
} from './upstream-errors.ts';

export interface HandlerDeps {
  readonly store: ConfigStore;
  readonly engine: ProxyEngine;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly accessLog: boolean;
  /** True once shutdown began: responses then ask clients to close their connection. */
  readonly isDraining: () => boolean;
}

/**
 * The data path: pin the snapshot once, match, forward. Everything a request uses comes from
 * the snapshot it started with, so a reload mid-request changes nothing for it. Nothing here
 * allocates per request beyond what the engine needs: no closure, no 'finish' listener; the
 * engine reports the end of the exchange to one long-lived completion handler.
 */
export function createRequestHandler(deps: HandlerDeps) {
  const { store, engine, metrics, isDraining } = deps;
  const onComplete = createCompletionHandler(deps);
  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const route = findRoute(store, req);
    if (isDraining()) res.setHeader('connection', 'close');
    if (route === 'bad' || route === undefined) {
      metrics.countUnmatched();
      return sendError(res, route === 'bad' ? 400 : 404);
    }
    engine.web(req, res, route, onComplete);
  };
}

/** Counts (and optionally logs) every response the engine reports as ended. */
function createCompletionHandler(deps: Pick<HandlerDeps, 'metrics' | 'log' | 'accessLog'>) {
  const { metrics, log, accessLog } = deps;
  return (res: ServerResponse, route: Route, seconds: number): void => {
    metrics.recordRequest(route, res.statusCode, seconds);
    if (accessLog) logAccess(log, res, route, seconds);
  };
}

function logAccess(log: Logger, res: ServerResponse, route: Route, seconds: number): void {
  const req = res.req;
  log.info(
    {
      access: true,
      method: req.method,
      host: req.headers.host,
      url: req.url,
      status: res.statusCode,
      ms: Math.round(seconds * 1000),
      site: route.site,
      route: route.path,
    },
    'request',
  );
}

/** Upgrade requests (WebSocket) follow the same routing, then hand the raw socket over. */
export function createUpgradeHandler(deps: HandlerDeps) {
  const { store, engine } = deps;
  return function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const route = findRoute(store, req);
    if (route === 'bad') return sendErrorOnSocket(socket, 400);
    if (route === undefined) return sendErrorOnSocket(socket, 404);
    engine.upgrade(req, socket, head, route);
  };
}

/** Maps an upstream failure to its response and its metrics; the details go to the log only. */
export function createUpstreamErrorHandler(metrics: ProxyMetrics, log: Logger) {
  return (err: Error, req: IncomingMessage, target: ServerResponse | Socket, route: Route) => {
    const failure = classifyUpstreamError(err);
    metrics.upstreamErrors.inc({ site: route.site, route: route.path, reason: failure });
    log.warn(
      {
        site: route.site,
        route: route.path,
        upstream: route.target.origin,
        reason: failure,
        code: (err as NodeJS.ErrnoException).code,
        err: err.message,
        method: req.method,
        url: req.url,
      },
      'upstream request failed',
    );
    const status = statusForFailure(failure);
    if ('writeHead' in target) sendError(target, status);
    else sendErrorOnSocket(target, status);
  };
}

function findRoute(store: ConfigStore, req: IncomingMessage): Route | undefined | 'bad' {
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */) return 'bad';
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (hasDotSegment(path)) return 'bad';
  // From rawHeaders: reading req.headers would make Node build the whole header object.
  return matchRoute(store.current().table, rawHost(req.rawHeaders), path);
}

/**
 * `/public/../admin` would match the `/public/` route here and reach `/admin` upstream once
 * the upstream normalises it; refusing dot segments keeps prefix routing meaningful.
 */
function hasDotSegment(path: string): boolean {
  if (!path.includes('.') && !path.includes('%')) return false;
  const decoded = path.includes('%') ? path.replace(/%2e/gi, '.') : path;
  return /(?:^|\/)\.{1,2}(?:\/|$)/.test(decoded);
}

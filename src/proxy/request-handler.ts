import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConfigStore } from '../config/store.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { matchRoute } from '../routing/route-table.ts';
import type { Route } from '../routing/route-table.ts';
import type { ProxyEngine } from './engine.ts';
import { setForwardedHeaders, stripHopByHop } from './headers.ts';
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
 * the snapshot it started with, so a reload mid-request changes nothing for it.
 */
export function createRequestHandler(deps: HandlerDeps) {
  const { store, engine, metrics, log, accessLog, isDraining } = deps;
  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const route = findRoute(store, req);
    if (isDraining()) res.setHeader('connection', 'close');
    if (route === 'bad') {
      countUnmatched(metrics, '4xx');
      return sendError(res, 400);
    }
    if (route === undefined) {
      countUnmatched(metrics, '4xx');
      return sendError(res, 404);
    }
    res.once('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      const statusClass = `${Math.floor(res.statusCode / 100)}xx`;
      metrics.requests.inc({ site: route.site, route: route.path, status_class: statusClass });
      metrics.requestDuration.observe({ site: route.site, route: route.path }, seconds);
      if (accessLog) {
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
    });
    stripHopByHop(req.headers);
    setForwardedHeaders(req, 'http');
    engine.web(req, res, route);
  };
}

/** Upgrade requests (WebSocket) follow the same routing, then hand the raw socket over. */
export function createUpgradeHandler(deps: HandlerDeps) {
  const { store, engine } = deps;
  return function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const route = findRoute(store, req);
    if (route === 'bad') return sendErrorOnSocket(socket, 400);
    if (route === undefined) return sendErrorOnSocket(socket, 404);
    stripHopByHop(req.headers, true);
    setForwardedHeaders(req, 'http');
    engine.upgrade(req, socket, head, route);
  };
}

/** Maps an upstream failure to its response and its metric; the details go to the log only. */
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
  return matchRoute(store.current().table, req.headers.host ?? '', path);
}

/**
 * `/public/../admin` would match the `/public/` route here and reach `/admin` upstream once
 * the upstream normalises it; refusing dot segments keeps prefix routing meaningful.
 */
function hasDotSegment(path: string): boolean {
  const decoded = path.includes('%') ? path.replace(/%2e/gi, '.') : path;
  return /(?:^|\/)\.{1,2}(?:\/|$)/.test(decoded);
}

function countUnmatched(metrics: ProxyMetrics, statusClass: string): void {
  metrics.requests.inc({ site: '', route: '', status_class: statusClass });
}

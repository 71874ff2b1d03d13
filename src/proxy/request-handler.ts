import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConfigStore } from '../config/store.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { GateDeps } from '../access/request-gate.ts';
import { createGateRefusal, createUpgradeRefusal, passGate } from './gate-step.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { matchRoute } from '../routing/route-table.ts';
import type { Route } from '../routing/route-table.ts';
import type { BodyWatch } from './body-watch.ts';
import type { ProxyEngine } from './engine.ts';
import { guardRequest, requestHost, transferCoding } from './request-guard.ts';
import type { TrustBoundary } from './trust-boundary.ts';
import type { ExchangeEnd } from './exchange.ts';
import type { UpstreamError } from '../http1/upstream-error.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import type { AccessLog } from './access-log.ts';
import { identify } from './request-identity.ts';
import type { RequestIdentity } from './request-identity.ts';
import {
  errorBodyLength,
  errorForFailure,
  routeReason,
  sendError,
  sendErrorOnSocket,
  statusOf,
} from './upstream-errors.ts';
import type { ClientError } from './upstream-errors.ts';
import { hasBody, isHttp2Stream, requestHasBody } from './request-body.ts';
import { isPreflight, ownResponseCors } from './cors.ts';
import { createPreflightStep } from './preflight-step.ts';

export interface HandlerDeps {
  readonly store: ConfigStore;
  readonly engine: ProxyEngine;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly access: AccessLog;
  readonly trust: TrustBoundary;
  /** What route gates check with (access lists need only `trust`). */
  readonly gate: GateDeps;
  readonly bodies: BodyWatch;
  /** True once shutdown began: responses then ask clients to close their connection. */
  readonly isDraining: () => boolean;
}

/**
 * The data path: guard, pin the snapshot once, match, forward. Everything a request uses comes
 * from the snapshot it started with, so a reload mid-request changes nothing for it. HTTP/1.1
 * connections hand over one request at a time, in order (http1/server-connection.ts); HTTP/2
 * streams are independent.
 */
export function createRequestHandler(deps: HandlerDeps) {
  const { store, engine, metrics, isDraining, trust, bodies, access } = deps;
  const onComplete = createCompletionHandler(deps);
  const refuse = createGateRefusal(deps);
  const preflight = createPreflightStep(deps, refuse);
  return function handleRequest(req: ClientRequest, res: ClientResponse): void {
    const startedAt = performance.now();
    const h2 = isHttp2Stream(req);
    const hop = trust.hop(req.socket, protoOf(req.socket));
    const identity = identify(req.rawHeaders, hop.trusted);
    // HTTP/2 has no Connection header (a draining session sends GOAWAY instead). Its bodies
    // are watched per stream: flow control caps what a stream buffers, not how slowly it sends.
    if (isDraining() && !h2) res.setHeader('connection', 'close');
    if (h2 ? requestHasBody(req) : hasBody(req.rawHeaders)) bodies.watch(req, res, identity.id);
    const snapshot = store.current();
    const route = findRoute(snapshot, req);
    if (typeof route === 'string') {
      metrics.countUnmatched(statusOf(route));
      // A refused framing (a coding other than chunked, a version or method whose body this hop
      // will not read) ends the connection: a front proxy that read those bytes differently
      // would disagree with us about where the next request starts.
      if (
        !h2 &&
        (route === 'unsupported_coding' ||
          route === 'http_version' ||
          route === 'method_not_allowed' ||
          transferCoding(req.rawHeaders) !== undefined)
      ) {
        res.setHeader('connection', 'close');
      }
      sendError(res, route, identity.id);
      const facts = { status: statusOf(route), startedAt, reason: route };
      access.write(req, hop, identity, {
        ...facts,
        bytesSent: errorBodyLength(route),
        bytesReceived: 0,
      });
      return;
    }
    if (route.httpsRedirect && hop.proto === 'http') {
      metrics.recordRequest(route, 308, undefined);
      redirectToHttps(req, res, identity.id);
      access.write(req, hop, identity, {
        status: res.statusCode,
        startedAt,
        site: route.site,
        route: route.path,
        bytesSent: 0,
        bytesReceived: 0,
        reason: 'https_redirect',
      });
      return;
    }
    if (route.cors !== undefined && isPreflight(req)) {
      const client = trust.clientAddress(hop, req.rawHeaders);
      return preflight({ req, hop, identity, snapshot, client, route }, res, route.cors, startedAt);
    }
    const gate = route.gate;
    if (gate === undefined) return engine.web(req, res, route, hop, identity, onComplete);
    const client = trust.clientAddress(hop, req.rawHeaders);
    const request = { req, hop, identity, snapshot, client, route };
    // While the gate waits, the body is held (buffered one read at most, then not read).
    passGate(
      deps,
      gate,
      request,
      () => req.pause(),
      (verdict) => {
        if (res.destroyed) return;
        if (verdict.pass) engine.web(req, res, route, hop, identity, onComplete, verdict.patch);
        else refuse(request, res, startedAt, verdict);
      },
    );
  };
}

/**
 * Every exchange that ended: a failure becomes its error response here (the one place), then
 * the response is counted and, optionally, logged.
 */
function createCompletionHandler(deps: Pick<HandlerDeps, 'metrics' | 'log' | 'access' | 'trust'>) {
  const { metrics, log, access, trust } = deps;
  return (end: ExchangeEnd): void => {
    const { res, route, seconds, error, identity } = end;
    let ownBody = 0;
    if (end.refusal !== undefined) {
      // Cut mid-body: the client is still sending, so the connection closes after the answer.
      metrics.refusals.inc({ site: route.site, route: route.path, reason: end.refusal });
      if (!res.headersSent && !isHttp2Stream(res.req)) res.setHeader('connection', 'close');
      ownBody = res.headersSent ? 0 : errorBodyLength(end.refusal);
      sendError(res, end.refusal, identity.id, ownResponseCors(route.cors, res.req));
    }
    if (error !== undefined) {
      logUpstreamFailure(log, metrics, res.req, route, end.upstream, error, identity);
      const answer = errorForFailure(error.failure);
      ownBody = res.headersSent ? 0 : errorBodyLength(answer);
      sendError(res, answer, identity.id, ownResponseCors(route.cors, res.req));
    }
    metrics.recordRequest(route, res.statusCode, seconds);
    if (!access.enabled) return;
    const req = res.req;
    access.write(req, trust.hop(req.socket, protoOf(req.socket)), identity, {
      status: res.statusCode,
      startedAt: end.startedAt,
      site: route.site,
      route: route.path,
      upstream: end.upstream,
      upstreamMs: end.upstreamSeconds === undefined ? undefined : end.upstreamSeconds * 1000,
      attempts: end.attempts,
      bytesSent: end.bytesSent + ownBody,
      bytesReceived: end.bytesReceived,
      reason: end.refusal ?? (error === undefined ? undefined : routeReason(error.failure)),
    });
  };
}

/** The details of a failure go to the log only; the client's answer names no address. */
function logUpstreamFailure(
  log: Logger,
  metrics: ProxyMetrics,
  req: ClientRequest,
  route: Route,
  upstream: string,
  err: UpstreamError,
  identity?: RequestIdentity,
): void {
  const reason = routeReason(err.failure);
  metrics.upstreamErrors.inc({ site: route.site, route: route.path, reason });
  log.warn(
    {
      site: route.site,
      route: route.path,
      upstream,
      reason,
      code: err.code,
      err: err.message,
      method: req.method,
      url: req.url,
      request_id: identity?.id,
      trace_id: identity?.traceId,
    },
    'upstream request failed',
  );
}

/**
 * WebSocket handshakes (the only upgrades the listeners accept, see listeners.ts) pass the same
 * guard and routing, then go through the same engine with the raw socket.
 */
export function createUpgradeHandler(deps: HandlerDeps) {
  const { store, engine, trust, metrics, access } = deps;
  const refuse = createUpgradeRefusal(deps);
  return function handleUpgrade(req: ClientRequest, socket: Socket, head: Buffer): void {
    const startedAt = performance.now();
    const hop = trust.hop(socket, protoOf(socket));
    const identity = identify(req.rawHeaders, hop.trusted);
    const snapshot = store.current();
    const route = findRoute(snapshot, req);
    if (typeof route === 'string') {
      metrics.countUnmatched(statusOf(route));
      sendErrorOnSocket(socket, route);
      access.write(req, hop, identity, {
        status: statusOf(route),
        startedAt,
        bytesSent: errorBodyLength(route),
        bytesReceived: 0,
        reason: route,
      });
      return;
    }
    // The route's gate holds for handshakes too: an Upgrade header must not be a way around
    // the address lists, the limits or authentication.
    const gate = route.gate;
    if (gate === undefined) return engine.upgrade(req, socket, head, route, hop, identity);
    const client = trust.clientAddress(hop, req.rawHeaders);
    const request = { req, hop, identity, snapshot, client, route };
    // The tunnel's pipe resumes the socket.
    passGate(
      deps,
      gate,
      request,
      () => socket.pause(),
      (verdict) => {
        if (socket.destroyed) return;
        if (verdict.pass) engine.upgrade(req, socket, head, route, hop, identity, verdict.patch);
        else refuse(request, socket, startedAt, verdict);
      },
    );
  };
}

/** A WebSocket handshake that failed for good: logged, counted, answered on the raw socket. */
export function createUpgradeFailureHandler(
  metrics: ProxyMetrics,
  log: Logger,
  access: AccessLog,
  trust: TrustBoundary,
) {
  return (
    req: ClientRequest,
    socket: Socket,
    route: Route,
    upstream: string,
    err: UpstreamError,
    identity: RequestIdentity,
  ) => {
    logUpstreamFailure(log, metrics, req, route, upstream, err, identity);
    const answer = errorForFailure(err.failure);
    sendErrorOnSocket(socket, answer);
    access.write(req, trust.hop(socket, protoOf(socket)), identity, {
      status: statusOf(answer),
      startedAt: performance.now(),
      site: route.site,
      route: route.path,
      upstream,
      attempts: 1,
      bytesSent: errorBodyLength(answer),
      bytesReceived: 0,
      reason: routeReason(err.failure),
    });
  };
}

/** The scheme the client used: a TLS listener's sockets are TLSSockets. */
function protoOf(socket: Socket): 'http' | 'https' {
  return (socket as TLSSocket).encrypted === true ? 'https' : 'http';
}

/**
 * `https_redirect`: 308 (method and body kept) to the same host and path on https://, on the
 * default port: the port the client used was the plain one, and behind a load balancer or a
 * Kubernetes Service the public HTTPS port is 443 whatever the listener's own port is.
 */
function redirectToHttps(req: ClientRequest, res: ClientResponse, requestId: string): void {
  const host = hostWithoutPort(requestHost(req.rawHeaders) ?? '');
  if (host === '') return sendError(res, 'bad_host', requestId);
  const location = `https://${host}${req.url ?? '/'}`;
  res.writeHead(308, {
    location,
    'content-length': 0,
    'cache-control': 'no-store',
    'x-request-id': requestId,
  });
  res.end();
}

function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function findRoute(snapshot: Snapshot, req: ClientRequest): Route | ClientError {
  const guarded = guardRequest(req);
  if (typeof guarded === 'string') return guarded;
  return matchRoute(snapshot.table, guarded.host, guarded.path) ?? 'no_route';
}

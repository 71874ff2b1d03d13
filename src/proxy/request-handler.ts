import type { ConfigStore } from '../config/store.ts';
import type { GateDeps } from '../access/request-gate.ts';
import { createGateRefusal, passGate } from './gate-step.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { errorPage } from '../error-pages/site-pages.ts';
import type { Route } from '../routing/route-table.ts';
import type { BodyWatch } from './body-watch.ts';
import type { ProxyEngine } from './engine.ts';
import { transferCoding } from './request-guard.ts';
import { findRoute, protoOf, siteOf } from './request-route.ts';
import { httpsRedirect, ownAnswer, sendRedirect } from './redirect-answer.ts';
import type { RedirectAnswer } from './redirect-answer.ts';
import type { TrustBoundary } from './trust-boundary.ts';
import type { ExchangeEnd } from './exchange.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import type { AccessLog } from './access-log.ts';
import { identify } from './request-identity.ts';
import type { RequestIdentity } from './request-identity.ts';
import type { ClientHop } from './forward-headers.ts';
import type { HeaderPatch } from '../access/request-gate.ts';
import {
  errorBodyLength,
  errorForFailure,
  routeReason,
  sendError,
  statusOf,
} from './upstream-errors.ts';
import type { ClientError } from './upstream-errors.ts';
import { hasBody, isHttp2Stream, requestHasBody } from './request-body.ts';
import { isPreflight, ownResponseCors } from './cors.ts';
import { createPreflightStep } from './preflight-step.ts';
import { logUpstreamFailure } from './upstream-failure-log.ts';

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
      // No route, but a site: its page for 404, if it has one.
      const page =
        route === 'no_route' && snapshot.sitePages.size > 0
          ? errorPage(snapshot.sitePages, siteOf(snapshot, req), 404)
          : undefined;
      sendError(res, route, identity.id, undefined, page);
      const facts = { status: statusOf(route), startedAt, reason: route };
      access.write(req, hop, identity, {
        ...facts,
        bytesSent: errorBodyLength(route, page),
        bytesReceived: 0,
      });
      return;
    }
    if (route.httpsRedirect && hop.proto === 'http') {
      return answerOwn(req, res, route, hop, identity, startedAt, httpsRedirect(req));
    }
    if (route.cors !== undefined && isPreflight(req)) {
      const client = trust.clientAddress(hop, req.rawHeaders);
      return preflight({ req, hop, identity, snapshot, client, route }, res, route.cors, startedAt);
    }
    const gate = route.gate;
    if (gate === undefined) return serve(req, res, route, hop, identity, startedAt);
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
        if (verdict.pass) serve(req, res, route, hop, identity, startedAt, verdict.patch);
        else refuse(request, res, startedAt, verdict);
      },
    );
  };

  /** A matched request past its gate: its route's own answer, or its upstream. */
  function serve(
    req: ClientRequest,
    res: ClientResponse,
    route: Route,
    hop: ClientHop,
    identity: RequestIdentity,
    startedAt: number,
    patch?: HeaderPatch,
  ): void {
    const own = ownAnswer(route, req, hop.proto);
    if (own === undefined) return engine.web(req, res, route, hop, identity, onComplete, patch);
    answerOwn(req, res, route, hop, identity, startedAt, own);
  }

  /** A response the proxy makes itself for a matched route: a redirect, or an error. */
  function answerOwn(
    req: ClientRequest,
    res: ClientResponse,
    route: Route,
    hop: ClientHop,
    identity: RequestIdentity,
    startedAt: number,
    answer: RedirectAnswer | ClientError,
  ): void {
    if (typeof answer === 'string') sendError(res, answer, identity.id);
    else sendRedirect(res, answer, identity.id);
    metrics.recordRequest(route, res.statusCode, undefined);
    access.write(req, hop, identity, {
      status: res.statusCode,
      startedAt,
      site: route.site,
      route: route.path,
      bytesSent: typeof answer === 'string' ? errorBodyLength(answer) : 0,
      bytesReceived: 0,
      reason:
        typeof answer === 'string'
          ? answer
          : answer.noStore === true
            ? 'https_redirect'
            : 'redirect',
    });
  }
}

/**
 * Every exchange that ended: a failure becomes its error response here (the one place), then
 * the response is counted and, optionally, logged.
 */
function createCompletionHandler(
  deps: Pick<HandlerDeps, 'metrics' | 'log' | 'access' | 'trust' | 'store'>,
) {
  const { metrics, log, access, trust, store } = deps;
  return (end: ExchangeEnd): void => {
    const { res, route, seconds, error, identity } = end;
    let ownBody = 0;
    if (end.refusal !== undefined) {
      // Cut mid-body: the client is still sending, so the connection closes after the answer.
      metrics.refusals.inc({ site: route.site, route: route.path, reason: end.refusal });
      if (!res.headersSent && !isHttp2Stream(res.req)) res.setHeader('connection', 'close');
      const page = errorPage(store.current().sitePages, route.site, statusOf(end.refusal));
      ownBody = res.headersSent ? 0 : errorBodyLength(end.refusal, page);
      sendError(res, end.refusal, identity.id, ownResponseCors(route.cors, res.req), page);
    }
    if (error !== undefined) {
      logUpstreamFailure(log, metrics, res.req, route, end.upstream, error, identity);
      const answer = errorForFailure(error.failure);
      // The pages of the config serving now (docs/config.md, "error_pages"): an exchange does
      // not carry its snapshot, and a page is looked up only when an exchange failed.
      const page = errorPage(store.current().sitePages, route.site, statusOf(answer));
      ownBody = res.headersSent ? 0 : errorBodyLength(answer, page);
      sendError(res, answer, identity.id, ownResponseCors(route.cors, res.req), page);
    }
    metrics.recordRequest(route, res.statusCode, seconds);
    if (end.compression !== undefined) metrics.recordCompression(route, end.compression);
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

import type { Socket } from 'node:net';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { UpstreamError } from '../http1/upstream-error.ts';
import type { Route } from '../routing/route.ts';
import type { HeaderPatch } from '../access/request-gate.ts';
import type { AccessLog } from './access-log.ts';
import type { ClientRequest } from './client-side.ts';
import type { ClientHop } from './forward-headers.ts';
import { createUpgradeRefusal, passGate } from './gate-step.ts';
import { ownAnswer } from './redirect-answer.ts';
import { findRoute, protoOf } from './request-route.ts';
import type { HandlerDeps } from './request-handler.ts';
import { identify } from './request-identity.ts';
import type { RequestIdentity } from './request-identity.ts';
import type { TrustBoundary } from './trust-boundary.ts';
import { logUpstreamFailure } from './upstream-failure-log.ts';
import {
  errorBodyLength,
  errorForFailure,
  redirectOnSocket,
  routeReason,
  sendErrorOnSocket,
  statusOf,
} from './upstream-errors.ts';

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
    if (gate === undefined) return serveUpgrade(req, socket, head, route, hop, identity);
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
        if (verdict.pass) serveUpgrade(req, socket, head, route, hop, identity, verdict.patch);
        else refuse(request, socket, startedAt, verdict);
      },
    );
  };

  /** As serve() above, on the raw socket of a handshake. */
  function serveUpgrade(
    req: ClientRequest,
    socket: Socket,
    head: Buffer,
    route: Route,
    hop: ClientHop,
    identity: RequestIdentity,
    patch?: HeaderPatch,
  ): void {
    const own = ownAnswer(route, req, hop.proto);
    if (own === undefined) return engine.upgrade(req, socket, head, route, hop, identity, patch);
    const status = typeof own === 'string' ? statusOf(own) : own.status;
    if (typeof own === 'string') sendErrorOnSocket(socket, own, { 'x-request-id': identity.id });
    else redirectOnSocket(socket, own.status, own.location, identity.id);
    metrics.recordRequest(route, status, undefined);
    access.write(req, hop, identity, {
      status,
      startedAt: performance.now(),
      site: route.site,
      route: route.path,
      bytesSent: typeof own === 'string' ? errorBodyLength(own) : 0,
      bytesReceived: 0,
      reason: typeof own === 'string' ? own : 'redirect',
    });
  }
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

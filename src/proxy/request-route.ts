import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Snapshot } from '../config/snapshot.ts';
import { matchRoute, matchSiteName } from '../routing/route-table.ts';
import type { Route } from '../routing/route-table.ts';
import type { ClientRequest } from './client-side.ts';
import { guardRequest, requestHost } from './request-guard.ts';
import type { ClientError } from './upstream-errors.ts';

/** What requests and WebSocket handshakes alike ask of the table they were pinned to. */

/** The scheme the client used: a TLS listener's sockets are TLSSockets. */
export function protoOf(socket: Socket): 'http' | 'https' {
  return (socket as TLSSocket).encrypted === true ? 'https' : 'http';
}

/** The site a request's Host selects, whose routes all missed its path. */
export function siteOf(snapshot: Snapshot, req: ClientRequest): string | undefined {
  const host = requestHost(req.rawHeaders);
  return host === undefined ? undefined : matchSiteName(snapshot.table, host);
}

export function findRoute(snapshot: Snapshot, req: ClientRequest): Route | ClientError {
  const guarded = guardRequest(req);
  if (typeof guarded === 'string') return guarded;
  return matchRoute(snapshot.table, guarded.host, guarded.path, req) ?? 'no_route';
}

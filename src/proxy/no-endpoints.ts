import { UpstreamError } from '../http1/upstream-error.ts';
import type { Route } from '../routing/route.ts';
import type { ClientResponse } from './client-side.ts';
import type { ExchangeEnd } from './exchange-end.ts';
import type { RequestIdentity } from './request-identity.ts';

/**
 * A route whose service upstreams resolve to no endpoint (and that lists no URL): `503
 * no_endpoints`, made where every failed exchange is answered (request-handler.ts), without an
 * attempt. The next endpoint update that brings one lets the route serve again by itself.
 */
export function noEndpoints(route: Route): UpstreamError {
  const names = (route.services ?? []).map((s) => `${s.service}:${s.port}`).join(', ');
  return new UpstreamError('no_endpoints', `no endpoints for ${names}`);
}

export function noEndpointsEnd(
  res: ClientResponse,
  route: Route,
  identity: RequestIdentity,
): ExchangeEnd {
  return {
    res,
    identity,
    startedAt: performance.now(),
    route,
    seconds: 0,
    error: noEndpoints(route),
    upstream: '',
    attempts: 0,
    upstreamSeconds: undefined,
    bytesSent: 0,
    bytesReceived: 0,
  };
}

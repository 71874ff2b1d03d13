import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { UpstreamError } from '../http1/upstream-error.ts';
import type { Route } from '../routing/route.ts';
import type { ClientRequest } from './client-side.ts';
import type { RequestIdentity } from './request-identity.ts';
import { routeReason } from './upstream-errors.ts';

/** The details of a failure go to the log only; the client's answer names no address. */
export function logUpstreamFailure(
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

import type { GateRequest } from '../access/request-gate.ts';
import type { GateVerdict } from '../access/request-gate.ts';
import type { Route } from '../routing/route.ts';
import type { CorsPolicy } from '../routing/cors-policy.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { GateDeps } from '../access/request-gate.ts';
import type { AccessLog } from './access-log.ts';
import type { ClientResponse } from './client-side.ts';
import { preflightHeaders } from './cors.ts';
import { passGate } from './gate-step.ts';

interface PreflightDeps {
  readonly gate: GateDeps;
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly access: AccessLog;
}

type Refuse = (
  request: GateRequest & { readonly route: Route },
  res: ClientResponse,
  startedAt: number,
  verdict: Exclude<GateVerdict, { pass: true }>,
) => void;

/**
 * A CORS preflight on a route with `cors`, answered here and never sent upstream (the upstream
 * may not even route OPTIONS). It passes the route's gate without authentication first
 * (cors-policy.ts `preflightGate`), then is counted and logged like the proxy's other own
 * answers, with the reason `cors_preflight` or, for an origin not allowed, `cors_refused`.
 */
export function createPreflightStep(deps: PreflightDeps, refuse: Refuse) {
  const answer = (
    request: GateRequest & { readonly route: Route },
    res: ClientResponse,
    policy: CorsPolicy,
    startedAt: number,
  ): void => {
    const { req, route, identity } = request;
    const { allowed, headers } = preflightHeaders(policy, req, identity.id);
    res.writeHead(204, headers);
    res.end();
    deps.metrics.recordRequest(route, 204, undefined);
    deps.access.write(req, request.hop, identity, {
      status: 204,
      startedAt,
      site: route.site,
      route: route.path,
      bytesSent: 0,
      bytesReceived: 0,
      reason: allowed ? 'cors_preflight' : 'cors_refused',
    });
  };
  return (
    request: GateRequest & { readonly route: Route },
    res: ClientResponse,
    policy: CorsPolicy,
    startedAt: number,
  ): void => {
    const gate = policy.preflightGate;
    if (gate === undefined) return answer(request, res, policy, startedAt);
    passGate(
      deps,
      gate,
      request,
      () => request.req.pause(),
      (verdict) => {
        if (res.destroyed) return;
        if (verdict.pass) answer(request, res, policy, startedAt);
        else refuse(request, res, startedAt, verdict);
      },
    );
  };
}

import type { Socket } from 'node:net';
import { runGate } from '../access/request-gate.ts';
import type { GateDeps, GateRequest, GateVerdict } from '../access/request-gate.ts';
import type { RouteGate } from '../access/route-gate.ts';
import { BcryptBusyError } from '../access/bcrypt-pool.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { AccessLog } from './access-log.ts';
import type { ClientResponse } from './client-side.ts';
import { errorPage } from '../error-pages/site-pages.ts';
import { isHttp2Stream } from './request-body.ts';
import type { Route } from '../routing/route.ts';
import { applyCors, ownResponseCors } from './cors.ts';
import {
  errorBodyLength,
  relayOnSocket,
  sendError,
  sendErrorOnSocket,
  statusOf,
} from './upstream-errors.ts';

type Refused = Exclude<GateVerdict, { pass: true }>;

/** A gate whose check threw (a bug, or a checker that broke): refused, never passed. */
const GATE_FAILED: Refused = {
  pass: false,
  reason: 'auth_unavailable',
  refusal: 'auth_unavailable',
};

/** basic_auth's bcrypt queue is full: 503 with a short Retry-After, as for a busy upstream. */
const AUTH_BUSY: Refused = {
  pass: false,
  reason: 'auth_busy',
  refusal: 'auth_busy',
  headers: { 'retry-after': '1' },
};

/**
 * Runs a route's gate for a request or a WebSocket handshake and hands the verdict to `then`:
 * at once when every check could decide at once, else once they have, with `hold` called
 * first so that nothing more is read from the client meanwhile.
 */
export function passGate(
  deps: { readonly gate: GateDeps; readonly log: Logger },
  gate: RouteGate,
  request: GateRequest,
  hold: () => void,
  then: (verdict: GateVerdict) => void,
): void {
  const verdict = runGate(gate, request, deps.gate);
  if (!(verdict instanceof Promise)) return then(verdict);
  hold();
  verdict.then(then, (err: unknown) => {
    if (err instanceof BcryptBusyError) {
      // Overload, not a failure: the proxy's own queue of password checks is full.
      deps.log.warn({ request_id: request.identity.id }, err.message);
      return then(AUTH_BUSY);
    }
    deps.log.error({ err, request_id: request.identity.id }, 'route gate failed');
    then(GATE_FAILED);
  });
}

interface RefusalDeps {
  readonly metrics: ProxyMetrics;
  readonly access: AccessLog;
}

/** A request the route's gate refused: answered (or the auth service's answer relayed). */
export function createGateRefusal(deps: RefusalDeps) {
  return (
    request: GateRequest & { readonly route: Route },
    res: ClientResponse,
    startedAt: number,
    verdict: Refused,
  ) => {
    let bytes: number;
    // A route's CORS headers go on its refusals too: the page can then read its 401 or 429.
    const cors = request.route.cors;
    if ('relay' in verdict) {
      const { status, headers, body } = verdict.relay;
      const out = {
        ...headers,
        'content-length': body.length,
        'x-request-id': request.identity.id,
      };
      if (cors !== undefined) applyCors(cors, request.req, out);
      res.writeHead(status, out);
      res.end(body);
      bytes = body.length;
    } else {
      // A body too large is not read to its end: the connection closes after the answer.
      if (verdict.refusal === 'body_too_large' && !isHttp2Stream(request.req)) {
        res.setHeader('connection', 'close');
      }
      const { sitePages } = request.snapshot;
      const page = errorPage(sitePages, request.route.site, statusOf(verdict.refusal));
      const extra = ownResponseCors(cors, request.req, verdict.headers);
      sendError(res, verdict.refusal, request.identity.id, extra, page);
      bytes = errorBodyLength(verdict.refusal, page);
    }
    recordRefusal(deps, request, startedAt, verdict, res.statusCode, bytes);
  };
}

/** A handshake the route's gate refused, answered on the raw socket, then closed. */
export function createUpgradeRefusal(deps: RefusalDeps) {
  return (request: GateRequest, socket: Socket, startedAt: number, verdict: Refused) => {
    if ('relay' in verdict) {
      relayOnSocket(socket, verdict.relay, request.identity.id);
      const { status, body } = verdict.relay;
      recordRefusal(deps, request, startedAt, verdict, status, body.length);
      return;
    }
    sendErrorOnSocket(socket, verdict.refusal, {
      ...verdict.headers,
      'x-request-id': request.identity.id,
    });
    const status = statusOf(verdict.refusal);
    recordRefusal(deps, request, startedAt, verdict, status, errorBodyLength(verdict.refusal));
  };
}

/** Counted by reason and in the route's requests, and logged: the same for both answers. */
function recordRefusal(
  deps: RefusalDeps,
  request: GateRequest,
  startedAt: number,
  verdict: Refused,
  status: number,
  bytesSent: number,
): void {
  const { route } = request;
  deps.metrics.refusals.inc({ site: route.site, route: route.path, reason: verdict.reason });
  deps.metrics.recordRequest(route, status, undefined);
  deps.access.write(request.req, request.hop, request.identity, {
    status,
    startedAt,
    site: route.site,
    route: route.path,
    bytesSent,
    bytesReceived: 0,
    reason: verdict.reason,
  });
}

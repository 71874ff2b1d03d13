import { inNetworks } from '../config/cidr.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { ClientRequest } from '../proxy/client-side.ts';
import type { ClientHop } from '../proxy/forward-headers.ts';
import type { RequestIdentity } from '../proxy/request-identity.ts';
import type { TrustBoundary } from '../proxy/trust-boundary.ts';
import type { ClientError } from '../proxy/upstream-errors.ts';
import type { BasicAuthConfig, ForwardAuthConfig } from '../config/types.ts';
import type { RouteGate, RouteRateLimit } from './route-gate.ts';

/** One request at the gate, with what it was resolved to. */
export interface GateRequest {
  readonly req: ClientRequest;
  readonly hop: ClientHop;
  readonly identity: RequestIdentity;
  /** The snapshot the request was routed on: its credentials are the ones checked. */
  readonly snapshot: Snapshot;
  /** The client as `trusted_proxies` resolve it. */
  readonly client: string;
  /** The route it matched (a Route): labels for what a check counts. */
  readonly route: { readonly site: string; readonly path: string };
}

/** Headers to change on the request sent upstream (forward auth's `response_headers`). */
export interface HeaderPatch {
  /** Lower-case names with `-` (their `_` spellings go too), removed from the client's request first. */
  readonly remove: readonly string[];
  /** Flat [name, value, ...] added after. */
  readonly add: readonly string[];
}

/** An answer from an auth service, relayed to the client as it was given. */
export interface RelayedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer;
}

export type GateVerdict =
  | { readonly pass: true; readonly patch?: HeaderPatch | undefined }
  | {
      readonly pass: false;
      /** The reason counted and logged (reverse_proxy_refusals_total{reason}). */
      readonly reason: string;
      readonly refusal: ClientError;
      readonly headers?: Readonly<Record<string, string>> | undefined;
    }
  | { readonly pass: false; readonly reason: string; readonly relay: RelayedResponse };

export type TakeResult =
  { readonly ok: true } | { readonly ok: false; readonly retryAfterS: number };

/** Token buckets (rate-limit/): one process's own, or leased from the primary's. */
export interface RateLimiter {
  take(limit: RouteRateLimit, key: string): TakeResult | Promise<TakeResult>;
}

/** `access.basic_auth`: whether the request's credentials are a user of the file. */
export interface BasicAuthChecker {
  check(config: BasicAuthConfig, request: GateRequest): boolean | Promise<boolean>;
}

/** `access.forward_auth`: the auth service's verdict on the request. */
export interface ForwardAuthChecker {
  check(config: ForwardAuthConfig, request: GateRequest): Promise<GateVerdict>;
}

export interface GateDeps {
  readonly trust: TrustBoundary;
  readonly limiter?: RateLimiter | undefined;
  readonly basicAuth?: BasicAuthChecker | undefined;
  readonly forwardAuth?: ForwardAuthChecker | undefined;
}

const FORBIDDEN: GateVerdict = { pass: false, reason: 'forbidden', refusal: 'forbidden' };
const TOO_LARGE: GateVerdict = {
  pass: false,
  reason: 'body_too_large',
  refusal: 'body_too_large',
};
const PASS: GateVerdict = { pass: true };
const UNAVAILABLE: GateVerdict = {
  pass: false,
  reason: 'auth_unavailable',
  refusal: 'auth_unavailable',
};

/**
 * The checks of a route's gate, in nginx's order (its preaccess phase, then access): the
 * address lists first (cheapest, and a denied client spends no tokens), then the rate limit
 * (before authentication, so a password guesser is slowed down before any bcrypt runs), the
 * body size by Content-Length, then basic auth, then forward auth. Synchronous until a check
 * has to wait (a bcrypt comparison, a subrequest, a token lease): then a promise.
 */
export function runGate(
  gate: RouteGate,
  request: GateRequest,
  deps: GateDeps,
): GateVerdict | Promise<GateVerdict> {
  const { client } = request;
  if (gate.deny !== undefined || gate.allow !== undefined) {
    if (gate.deny !== undefined && inNetworks(gate.deny, client)) return FORBIDDEN;
    if (gate.allow !== undefined && !inNetworks(gate.allow, client)) return FORBIDDEN;
  }
  const limit = gate.rateLimit;
  // A check the config asks for but this process cannot run is a refusal, never a pass.
  if (limit !== undefined && deps.limiter === undefined) return UNAVAILABLE;
  if (limit !== undefined && deps.limiter !== undefined) {
    const key = limit.by === 'site' ? '' : client;
    const taken = deps.limiter.take(limit, key);
    if (taken instanceof Promise) return taken.then((t) => afterLimit(gate, request, deps, t));
    return afterLimit(gate, request, deps, taken);
  }
  return afterLimit(gate, request, deps, { ok: true });
}

function afterLimit(
  gate: RouteGate,
  request: GateRequest,
  deps: GateDeps,
  taken: TakeResult,
): GateVerdict | Promise<GateVerdict> {
  if (!taken.ok) {
    return {
      pass: false,
      reason: 'rate_limited',
      refusal: 'rate_limited',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(taken.retryAfterS))) },
    };
  }
  if (gate.maxBodyBytes !== undefined) {
    const length = contentLength(request.req.rawHeaders);
    if (length !== undefined && length > gate.maxBodyBytes) return TOO_LARGE;
  }
  const basic = gate.basicAuth;
  if (basic !== undefined && deps.basicAuth === undefined) return UNAVAILABLE;
  if (basic !== undefined && deps.basicAuth !== undefined) {
    const ok = deps.basicAuth.check(basic, request);
    if (ok instanceof Promise) return ok.then((yes) => afterBasic(gate, request, deps, yes));
    return afterBasic(gate, request, deps, ok);
  }
  return afterBasic(gate, request, deps, true);
}

function afterBasic(
  gate: RouteGate,
  request: GateRequest,
  deps: GateDeps,
  ok: boolean,
): GateVerdict | Promise<GateVerdict> {
  if (!ok) {
    const realm = gate.basicAuth?.realm ?? '';
    return {
      pass: false,
      reason: 'unauthorized',
      refusal: 'unauthorized',
      headers: { 'www-authenticate': `Basic realm="${realm}", charset="UTF-8"` },
    };
  }
  const forward = gate.forwardAuth;
  if (forward !== undefined && deps.forwardAuth === undefined) return UNAVAILABLE;
  if (forward !== undefined && deps.forwardAuth !== undefined) {
    return deps.forwardAuth.check(forward, request);
  }
  return PASS;
}

/** The request's Content-Length (the parser has checked there is at most one, all digits). */
function contentLength(raw: readonly string[]): number | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      return Number(raw[i + 1]);
    }
  }
  return undefined;
}

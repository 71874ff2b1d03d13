import type { CorsPolicy } from '../routing/cors-policy.ts';
import type { ClientRequest } from './client-side.ts';

/**
 * CORS on a route with `cors` (Fetch standard, "CORS protocol"): which origin a request comes
 * from, the preflight's answer, and the headers every other response of the route gets. The
 * proxy is the one source of these headers on the route: the upstream's own
 * `Access-Control-*` are replaced, so that the two can never disagree (two
 * Access-Control-Allow-Origin values make a browser refuse the response, and an upstream that
 * echoes every origin must not widen the operator's list).
 */

type HeaderObject = Record<string, string | string[] | number | undefined>;

/**
 * The request's Origin, or undefined when it has none or several (a browser sends one; two
 * cannot be matched safely, so they match nothing).
 */
export function requestOrigin(raw: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 6 || name.toLowerCase() !== 'origin') continue;
    if (found !== undefined) return undefined;
    found = raw[i + 1] as string;
  }
  return found;
}

/** A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method. */
export function isPreflight(req: ClientRequest): boolean {
  if (req.method !== 'OPTIONS') return false;
  const raw = req.rawHeaders;
  let origin = false;
  let method = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name === 'origin') origin = true;
    else if (name === 'access-control-request-method') method = true;
  }
  return origin && method;
}

/** The value of Access-Control-Allow-Origin for this origin, or undefined: not allowed. */
export function allowedOrigin(policy: CorsPolicy, origin: string | undefined): string | undefined {
  if (policy.anyOrigin) return '*';
  if (origin === undefined || !policy.origins.has(origin.toLowerCase())) return undefined;
  // Echoed as sent: the browser compares it byte for byte with its own serialisation.
  return origin;
}

const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

/**
 * The proxy's answer to a preflight: 204, with the route's lists for an allowed origin and no
 * CORS header at all for another (the browser then fails the preflight, and the request it
 * asked about is never sent). The requested method and headers are not checked here: the lists
 * are returned as configured and the browser enforces them, as Envoy's and nginx's CORS do.
 */
export function preflightHeaders(
  policy: CorsPolicy,
  req: ClientRequest,
  requestId: string,
): { readonly allowed: boolean; readonly headers: Record<string, string> } {
  const headers: Record<string, string> = { vary: PREFLIGHT_VARY, 'x-request-id': requestId };
  const allow = allowedOrigin(policy, requestOrigin(req.rawHeaders));
  if (allow === undefined) return { allowed: false, headers };
  headers['access-control-allow-origin'] = allow;
  headers['access-control-allow-methods'] = policy.allowMethods;
  if (policy.allowHeaders !== undefined) {
    headers['access-control-allow-headers'] = policy.allowHeaders;
  }
  if (policy.credentials) headers['access-control-allow-credentials'] = 'true';
  if (policy.maxAge !== undefined) headers['access-control-max-age'] = policy.maxAge;
  return { allowed: true, headers };
}

/**
 * The CORS headers of a response (the upstream's, or a relayed auth answer), set in place:
 * the upstream's `Access-Control-*` removed, then the route's added for an allowed origin.
 * `Vary: Origin` goes on every response of a route with an origin list, allowed or not: the
 * answer depends on Origin, and a cache that kept one origin's answer must not give it to
 * another (Fetch standard, "CORS protocol and HTTP caches").
 */
export function applyCors(policy: CorsPolicy, req: ClientRequest, out: HeaderObject): void {
  for (const name in out) {
    if (name.length > 15 && name.toLowerCase().startsWith('access-control-')) delete out[name];
  }
  if (!policy.anyOrigin) out.vary = withOrigin(out.vary);
  const allow = allowedOrigin(policy, requestOrigin(req.rawHeaders));
  if (allow === undefined) return;
  out['access-control-allow-origin'] = allow;
  if (policy.credentials) out['access-control-allow-credentials'] = 'true';
  if (policy.exposeHeaders !== undefined) {
    out['access-control-expose-headers'] = policy.exposeHeaders;
  }
}

/**
 * The same headers for a response the proxy makes itself (a 401, 429, 502, 504...), so that
 * the page can read why its call failed, as nginx's `add_header ... always` allows.
 */
export function ownResponseCors(
  policy: CorsPolicy | undefined,
  req: ClientRequest,
  extra?: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> | undefined {
  if (policy === undefined) return extra;
  const out: HeaderObject = { ...extra };
  applyCors(policy, req, out);
  return out as Record<string, string>;
}

/** Vary with Origin in it once: kept as it is when it already names Origin or is `*`. */
function withOrigin(vary: string | string[] | number | undefined): string {
  if (vary === undefined) return 'Origin';
  const text = Array.isArray(vary) ? vary.join(', ') : String(vary);
  for (const part of text.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === 'origin' || token === '*') return text;
  }
  return text.trim() === '' ? 'Origin' : `${text}, Origin`;
}

import { applyToFlatHeaders } from '../routing/header-rules.ts';
import type { Route } from '../routing/route.ts';
import type { ClientRequest } from './client-side.ts';
import { connectionTokens, HOP_BY_HOP } from './headers.ts';
import type { RequestIdentity } from './request-identity.ts';
import type { HeaderPatch } from '../access/request-gate.ts';

/** What this hop knows about the client, and whether it may speak for others (trusted_proxies). */
export interface ClientHop {
  /** The peer's address, appended to X-Forwarded-For. */
  readonly address: string;
  /** `http` or `https`: the scheme the client used to reach this listener. */
  readonly proto: string;
  /** A peer inside trusted_proxies: its X-Forwarded-* are kept (XFF appended to). */
  readonly trusted: boolean;
}

/**
 * The request headers sent upstream, built in one pass over `req.rawHeaders`: the hot path
 * never builds Node's lazy `req.headers` object, and never mutates anything it was given.
 *
 * - Hop-by-hop headers (RFC 9110 §7.6.1) and those the Connection header names are dropped,
 *   except the framing and routing headers (Content-Length, Transfer-Encoding, Host): naming
 *   them in Connection never removes them, so a client cannot unframe its body that way.
 * - `Expect` and `Transfer-Encoding` are dropped: Node has already answered `100 Continue`
 *   and de-chunked the body, and undici re-frames it.
 * - A header whose name uses `_` where a managed header has `-` (`X_Forwarded_For`) is
 *   dropped: some upstream frameworks fold `_` into `-` and would read it as the real one.
 * - From a peer outside trusted_proxies, X-Forwarded-For, -Proto and -Host (and `Forwarded`,
 *   `X-Real-IP`, their other spellings) are replaced by what this hop knows; from a trusted
 *   peer XFF gets the peer appended (nginx's $proxy_add_x_forwarded_for) and the peer's Proto
 *   and Host are kept.
 */
export function upstreamHeaders(
  raw: readonly string[],
  hop: ClientHop,
  identity?: RequestIdentity,
): string[] {
  const named = namedByConnection(raw);
  const out: string[] = [];
  let chain: string | undefined;
  let host: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let contentLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* : */) {
      // HTTP/2 pseudo-headers: the method and path travel in the request line upstream, the
      // authority becomes its Host.
      if (name === ':authority' && host === undefined) {
        host = value;
        out.push('host', value);
      }
      continue;
    }
    if (host !== undefined && name.length === 4 && name.toLowerCase() === 'host') {
      continue; // the guard has checked it says what :authority (or the first Host) says
    }
    switch (name.length) {
      case 10: // connection, keep-alive, tracestate
        if (
          identity !== undefined &&
          !identity.keepTracestate &&
          name.toLowerCase() === 'tracestate'
        ) {
          continue;
        }
        if (DROPPED.has(name.toLowerCase())) continue;
        break;
      case 11: // traceparent, x-real-ip
        if (identity !== undefined && name.toLowerCase() === 'traceparent') continue;
        if (!hop.trusted && UNTRUSTED_CLAIMS.has(name.toLowerCase())) continue;
        break;
      case 12: // x-request-id: this hop's, below
        if (identity !== undefined && name.toLowerCase() === 'x-request-id') continue;
        break;
      case 2: // te
      case 6: // expect
      case 7: // trailer, upgrade
      case 18: // proxy-authenticate
      case 19: // proxy-authorization
        if (DROPPED.has(name.toLowerCase())) continue;
        break;
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host !== undefined) continue; // the request guard refuses a second Host
          host = value;
          out.push(name, value);
          continue;
        }
        break;
      case 9: // forwarded
        if (!hop.trusted && UNTRUSTED_CLAIMS.has(name.toLowerCase())) continue;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (contentLength) continue;
          contentLength = true;
          // As a plain number: a next hop that read `0003` differently (as octal, say) would
          // disagree with us about where the body ends (the parser has checked it is digits).
          out.push(
            name,
            value.length > 1 && value.startsWith('0') ? value.replace(/^0+(?=\d)/, '') : value,
          );
          continue;
        }
        break;
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') {
          if (hop.trusted) chain = chain === undefined ? value : `${chain}, ${value}`;
          continue;
        }
        break;
      case 16: // proxy-connection, x-forwarded-host
      case 17: {
        // transfer-encoding, x-forwarded-proto
        const lower = name.toLowerCase();
        if (lower === 'x-forwarded-proto') {
          if (hop.trusted) forwardedProto ??= value;
          continue;
        }
        if (lower === 'x-forwarded-host') {
          if (hop.trusted) forwardedHost ??= value;
          continue;
        }
        if (DROPPED.has(lower)) continue;
        break;
      }
    }
    if (named !== undefined && named.includes(name.toLowerCase())) continue;
    if (name.includes('_') && ALIASED.has(name.toLowerCase().replaceAll('_', '-'))) continue;
    out.push(name, value);
  }
  out.push(
    'x-forwarded-for',
    chain === undefined || chain === '' ? hop.address : `${chain}, ${hop.address}`,
    'x-forwarded-proto',
    forwardedProto ?? hop.proto,
  );
  const xfHost = forwardedHost ?? host;
  if (xfHost !== undefined) out.push('x-forwarded-host', xfHost);
  if (identity !== undefined) {
    out.push('x-request-id', identity.id, 'traceparent', identity.traceparent);
  }
  return out;
}

// The name lengths in upstreamHeaders' switch must cover every name here.
const DROPPED = new Set([...HOP_BY_HOP, 'expect', 'transfer-encoding']);
const UNTRUSTED_CLAIMS = new Set(['forwarded', 'x-real-ip']);

/** Headers the proxy frames, routes on or sets: a Connection token never removes these. */
const FRAMING = new Set(['host', 'content-length', 'transfer-encoding']);

/** The `-` spellings an `_` header name must not alias. */
const ALIASED = new Set([
  ...DROPPED,
  ...FRAMING,
  ...UNTRUSTED_CLAIMS,
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'traceparent',
  'tracestate',
]);

/** Header names listed in Connection, lower-cased; undefined (the usual case) when none. */
function namedByConnection(raw: readonly string[]): string[] | undefined {
  let tokens: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const token of connectionTokens(raw[i + 1] as string)) {
      if (token !== 'close' && token !== 'keep-alive' && !FRAMING.has(token)) {
        (tokens ??= []).push(token);
      }
    }
  }
  return tokens;
}

/** The headers an exchange sends upstream on every attempt: sanitised, then the route's rules. */
export function forwardedHeaders(
  req: ClientRequest,
  route: Route,
  hop: ClientHop,
  identity: RequestIdentity,
  patch?: HeaderPatch,
): string[] {
  let headers = upstreamHeaders(req.rawHeaders, hop, identity);
  if (patch !== undefined) headers = applyPatch(headers, patch);
  return route.requestRules === undefined
    ? headers
    : applyToFlatHeaders(route.requestRules, headers);
}

/**
 * Forward auth's headers: the client's own copies removed, the auth service's added. A client's
 * `X_User` goes with `X-User`: CGI-style upstreams (PHP, nginx with `underscores_in_headers`)
 * read both as `HTTP_X_USER`, so it would otherwise pass for the auth service's.
 */
function applyPatch(headers: string[], patch: HeaderPatch): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    let lower = name.toLowerCase();
    if (lower.includes('_')) lower = lower.replaceAll('_', '-');
    if (patch.remove.includes(lower)) continue;
    out.push(name, headers[i + 1] as string);
  }
  for (const item of patch.add) out.push(item);
  return out;
}

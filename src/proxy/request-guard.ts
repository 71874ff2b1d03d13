import type { ClientRequest } from './client-side.ts';
import type { ClientError } from './upstream-errors.ts';
import { normalizePath } from '../routing/request-path.ts';
import { isHttp2Stream } from './request-body.ts';

/** What routing needs of a request once it passed the guard. */
export interface GuardedRequest {
  /** The Host header's value ('' for an HTTP/1.0 request without one). */
  readonly host: string;
  /** The normalised path, without the query string. */
  readonly path: string;
}

/**
 * The checks every request passes before it is matched, the same for plain requests and
 * upgrades. Refusals are answered by the caller:
 * - TRACE: 405 (it would echo the client's headers, cookies included, back to a script);
 * - an HTTP version other than 1.x (`HTTP/2.0` in a request line): 505;
 * - a Transfer-Encoding other than exactly `chunked` (`gzip, chunked`, `identity` then
 *   `chunked`): 501, because the body would reach the upstream still encoded and unlabelled;
 *   and any Transfer-Encoding on an HTTP/1.0 request, whose framing RFC 9112 §6.1 says to
 *   treat as faulty: 400;
 * - a request target that is not a path (`*`, absolute-form): 400;
 * - two Host headers, or one that is empty or holds a character no host name or address has
 *   (`,` `/` `\` `@`, white space): 400, so that the Host routed on is the one sent upstream;
 * - a path the normalisation refuses (routing/request-path.ts): 400.
 * A path the normalisation changes is written back to `req.url`, so the upstream sees it too.
 */
export function guardRequest(req: ClientRequest): GuardedRequest | ClientError {
  if (req.method === 'TRACE' || req.method === 'CONNECT') return 'method_not_allowed';
  const h2 = isHttp2Stream(req);
  if (req.httpVersionMajor !== 1 && !h2) return 'http_version';
  const raw = req.rawHeaders;
  const host = requestHost(raw);
  if (host === undefined) return 'bad_host';
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused; HTTP/1.0 may omit it.
  if (host === '' && !h2 && req.httpVersionMinor >= 1) return 'bad_host';
  const coding = transferCoding(raw);
  if (coding !== undefined) {
    if (req.httpVersionMinor === 0) return 'bad_request';
    if (coding !== 'chunked') return 'unsupported_coding';
  }
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */) return 'bad_request';
  const query = url.indexOf('?');
  const asked = query === -1 ? url : url.slice(0, query);
  const path = normalizePath(asked);
  if (path === undefined) return 'bad_request';
  if (path !== asked) req.url = query === -1 ? path : path + url.slice(query);
  return { host, path };
}

/**
 * The one Host header's value (HTTP/2: `:authority`, or Host where a client sends that
 * instead); undefined when there are two, or it is not a host[:port].
 */
export function requestHost(raw: readonly string[]): string | undefined {
  let host: string | undefined;
  let authority: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 10 && name === ':authority') {
      authority = raw[i + 1] as string;
      continue;
    }
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (host !== undefined) return undefined;
    host = raw[i + 1] as string;
  }
  if (authority !== undefined) {
    // RFC 9113 §8.3.1: a Host beside :authority must say the same.
    if (host !== undefined && host !== authority) return undefined;
    host = authority;
  }
  if (host === undefined) return ''; // HTTP/1.0 (guardRequest refuses it on HTTP/1.1)
  return HOST_VALUE.test(host) ? host : undefined;
}

/** Every Transfer-Encoding line joined as one list, lower-cased; undefined when there is none. */
export function transferCoding(raw: readonly string[]): string | undefined {
  let coding: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 17 || name.toLowerCase() !== 'transfer-encoding') continue;
    const value = (raw[i + 1] as string).trim().toLowerCase();
    coding = coding === undefined ? value : `${coding}, ${value}`;
  }
  return coding;
}

/** RFC 3986 reg-name, IP literals and a port: unreserved, sub-delims but `,`, `%`, `:`, `[]`. */
const HOST_VALUE = /^[A-Za-z0-9\-._~!$&'()*+;=%:[\]]+$/;

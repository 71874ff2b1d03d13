import type { IncomingMessage } from 'node:http';
import type { ClientError } from './upstream-errors.ts';
import { normalizePath } from '../routing/request-path.ts';

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
 * - a request target that is not a path (`*`, absolute-form): 400;
 * - two Host headers, or one that is empty or holds a character no host name or address has
 *   (`,` `/` `\` `@`, white space): 400, so that the Host routed on is the one sent upstream;
 * - a path the normalisation refuses (routing/request-path.ts): 400.
 * A path the normalisation changes is written back to `req.url`, so the upstream sees it too.
 */
export function guardRequest(req: IncomingMessage): GuardedRequest | ClientError {
  if (req.method === 'TRACE') return 'method_not_allowed';
  const host = requestHost(req.rawHeaders);
  if (host === undefined) return 'bad_host';
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */) return 'bad_request';
  const query = url.indexOf('?');
  const raw = query === -1 ? url : url.slice(0, query);
  const path = normalizePath(raw);
  if (path === undefined) return 'bad_request';
  if (path !== raw) req.url = query === -1 ? path : path + url.slice(query);
  return { host, path };
}

/** The one Host header's value; undefined when there are two, or it is not a host[:port]. */
export function requestHost(raw: readonly string[]): string | undefined {
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (host !== undefined) return undefined;
    host = raw[i + 1] as string;
  }
  if (host === undefined) return ''; // HTTP/1.0; Node answers an HTTP/1.1 request without one
  return HOST_VALUE.test(host) ? host : undefined;
}

/** RFC 3986 reg-name, IP literals and a port: unreserved, sub-delims but `,`, `%`, `:`, `[]`. */
const HOST_VALUE = /^[A-Za-z0-9\-._~!$&'()*+;=%:[\]]+$/;

import { STATUS_CODES } from 'node:http';
import type { ClientResponse } from './client-side.ts';
import type { Socket } from 'node:net';
import type { Failure } from '../http1/upstream-error.ts';
import { LINGER_MS } from '../http1/server-connection.ts';
import type { ErrorPage } from '../error-pages/site-pages.ts';

/**
 * The reason label of `reverse_proxy_upstream_errors_total` for a failure that ended an
 * exchange: a connect timeout counts as `timeout` there (the per-upstream metric keeps it apart).
 */
export function routeReason(failure: Failure): string {
  return failure === 'connect_timeout' ? 'timeout' : failure;
}

/** The only place that turns a refusal or a failure into a client response. Bodies name no address. */
const RESPONSES = {
  bad_request: [400, 'malformed request target'],
  bad_host: [400, 'missing, repeated or malformed Host header'],
  bad_rewrite: [400, 'this route rewrites the path into one that is refused'],
  unauthorized: [401, 'authentication required'],
  forbidden: [403, 'access to this route is not allowed from this address'],
  no_route: [404, 'no route for this host and path'],
  method_not_allowed: [405, 'this method is not served'],
  body_timeout: [408, 'the request body arrived too slowly'],
  body_too_large: [413, 'the request body is larger than this route allows'],
  rate_limited: [429, 'too many requests: retry after the time given'],
  unsupported_coding: [501, 'transfer codings other than chunked are not supported'],
  bad_gateway: [502, 'the upstream could not be reached'],
  upstream_busy: [503, 'too many requests are waiting for this upstream'],
  no_endpoints: [503, 'the service of this route has no endpoint to send to'],
  gateway_timeout: [504, 'the upstream did not answer in time'],
  auth_unavailable: [502, 'the authentication service could not be reached'],
  auth_timeout: [504, 'the authentication service did not answer in time'],
  auth_busy: [503, 'too many logins are being checked at once: retry shortly'],
  http_version: [505, 'only HTTP/1.x is served on this listener'],
} as const;

export type ClientError = keyof typeof RESPONSES;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

const PREPARED = new Map(
  Object.entries(RESPONSES).map(([error, [status, message]]) => [
    error as ClientError,
    { status, body: Buffer.from(`${JSON.stringify({ status, error, message })}\n`) },
  ]),
);

/**
 * The size of the body the proxy answers `error` with (bytes_sent in the access log): the
 * site's page when it has one for the status, else the JSON.
 */
export function errorBodyLength(error: ClientError, page?: ErrorPage): number {
  return (page ?? (PREPARED.get(error) as { body: Buffer })).body.length;
}

export function statusOf(error: ClientError): number {
  return RESPONSES[error][0];
}

export function errorForFailure(failure: Failure): ClientError {
  if (failure === 'timeout' || failure === 'connect_timeout') return 'gateway_timeout';
  if (failure === 'busy') return 'upstream_busy';
  if (failure === 'no_endpoints') return 'no_endpoints';
  return 'bad_gateway';
}

/**
 * Sends a JSON error, or cuts the connection when the upstream's headers already went out.
 * `requestId`: the request's X-Request-Id, returned with the error as with any response.
 * `page`: the site's `error_pages` page for this status, sent instead of the JSON (the status
 * and every header but the content's own stay).
 */
export function sendError(
  res: ClientResponse,
  error: ClientError,
  requestId?: string,
  extra?: Readonly<Record<string, string>>,
  page?: ErrorPage,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = RESPONSES[error][0];
  const body = page === undefined ? (PREPARED.get(error) as { body: Buffer }).body : page.body;
  // A failed writeHead may have left the upstream's reason phrase behind: never reuse it.
  // (HTTP/2 responses have none, and warn when one is set.)
  if (res.req.httpVersionMajor === 1) res.statusMessage = REASONS[status] as string;
  const headers: Record<string, string | number> = {
    'content-type': page === undefined ? 'application/json' : page.contentType,
    'content-length': body.length,
    'cache-control': 'no-store',
  };
  // node:http2's compatibility response throws on an undefined header value.
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  if (extra !== undefined) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * The same for a raw upgrade socket, which has no ServerResponse. `extra`: more headers (a
 * gate's refusal: WWW-Authenticate, Retry-After, the request id).
 */
export function sendErrorOnSocket(
  socket: Socket,
  error: ClientError,
  extra?: Readonly<Record<string, string>>,
): void {
  const { status, body } = PREPARED.get(error) as { status: number; body: Buffer };
  let head = `HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\ncache-control: no-store\r\n`;
  for (const name in extra) head += `${name}: ${extra[name]}\r\n`;
  endOnSocket(socket, head, body);
}

/** A forward auth refusal relayed on a raw upgrade socket (its headers as for a response). */
export function relayOnSocket(
  socket: Socket,
  relay: { status: number; headers: Readonly<Record<string, string | string[]>>; body: Buffer },
  requestId: string,
): void {
  let head = `HTTP/1.1 ${relay.status} ${STATUS_CODES[relay.status] ?? 'Unknown'}\r\n`;
  for (const name in relay.headers) {
    if (name === 'content-length' || name === 'x-request-id') continue;
    const value = relay.headers[name] as string | string[];
    for (const one of Array.isArray(value) ? value : [value]) head += `${name}: ${one}\r\n`;
  }
  head += `content-length: ${relay.body.length}\r\nx-request-id: ${requestId}\r\n`;
  endOnSocket(socket, head, relay.body);
}

/** A redirect route's answer to a WebSocket handshake, on its raw socket. */
export function redirectOnSocket(
  socket: Socket,
  status: number,
  location: string,
  requestId: string,
): void {
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nlocation: ${location}\r\ncontent-length: 0\r\nx-request-id: ${requestId}\r\n`;
  endOnSocket(socket, head, Buffer.alloc(0));
}

function endOnSocket(socket: Socket, head: string, body: Buffer): void {
  if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(`${head}connection: close\r\n\r\n`, 'latin1');
  socket.end(body);
  // Read (and drop) what the client still sends, so its close or reset is seen; one that
  // never closes is cut after the lingering time.
  socket.resume();
  socket.setTimeout(LINGER_MS, () => socket.destroy());
}

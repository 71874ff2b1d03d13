import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AttemptFailure } from '../upstream/target-state.ts';

/** Why an upstream exchange failed, as counted in metrics. */
export type UpstreamFailure =
  'refused' | 'reset' | 'timeout' | 'dns' | 'protocol' | 'busy' | 'other';

/** Raised by the engine when a route's timeout fires, so it maps to 504 rather than 502. */
export const UPSTREAM_TIMEOUT_CODE = 'ERR_UPSTREAM_TIMEOUT';
/** An upstream reply the proxy will not pass on (a status outside 100-599, a 1xx it cannot relay). */
export const UPSTREAM_PROTOCOL_CODE = 'ERR_UPSTREAM_PROTOCOL';
/** The origin's pool is full and so is its queue (upstream_pool). */
export const UPSTREAM_BUSY_CODE = 'ERR_UPSTREAM_BUSY';

/**
 * Node's and undici's codes alike: undici's UND_ERR_*_TIMEOUT are the route's timeout (before
 * the headers, between body chunks) or the connect timeout; UND_ERR_SOCKET and UND_ERR_CLOSED
 * an upstream that closed its socket mid-exchange (or sent bytes undici would not parse).
 */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = err instanceof Error && 'code' in err ? String(err.code) : '';
  switch (code) {
    case UPSTREAM_TIMEOUT_CODE:
    case 'ETIMEDOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timeout';
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns';
    case UPSTREAM_PROTOCOL_CODE:
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'protocol';
    case UPSTREAM_BUSY_CODE:
      return 'busy';
    default:
      return code.startsWith('HPE_') ? 'protocol' : 'other';
  }
}

/**
 * What a failed attempt says about the upstream, for passive health and retries: null when it
 * says nothing (the client left, or the proxy's own pool cap refused the request).
 */
export function attemptFailureOf(err: Error): AttemptFailure | null {
  const code = 'code' in err ? String(err.code) : '';
  if (code === 'ERR_CLIENT_GONE' || code === UPSTREAM_BUSY_CODE) return null;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect_timeout';
  const failure = classifyUpstreamError(err);
  return failure === 'busy' ? null : failure;
}

/** The only place that turns a refusal or a failure into a client response. Bodies name no address. */
const RESPONSES = {
  bad_request: [400, 'malformed request target'],
  bad_host: [400, 'missing, repeated or malformed Host header'],
  no_route: [404, 'no route for this host and path'],
  method_not_allowed: [405, 'this method is not served'],
  body_timeout: [408, 'the request body arrived too slowly'],
  unsupported_coding: [501, 'transfer codings other than chunked are not supported'],
  bad_gateway: [502, 'the upstream could not be reached'],
  upstream_busy: [503, 'too many requests are waiting for this upstream'],
  gateway_timeout: [504, 'the upstream did not answer in time'],
  http_version: [505, 'only HTTP/1.x is served on this listener'],
} as const;

export type ClientError = keyof typeof RESPONSES;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
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

export function statusOf(error: ClientError): number {
  return RESPONSES[error][0];
}

export function errorForFailure(failure: UpstreamFailure): ClientError {
  if (failure === 'timeout') return 'gateway_timeout';
  if (failure === 'busy') return 'upstream_busy';
  return 'bad_gateway';
}

/** Sends a JSON error, or cuts the connection when the upstream's headers already went out. */
export function sendError(res: ServerResponse, error: ClientError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body } = PREPARED.get(error) as { status: number; body: Buffer };
  // A failed writeHead may have left the upstream's reason phrase behind: never reuse it.
  // (HTTP/2 responses have none, and warn when one is set.)
  if (res.req.httpVersionMajor === 1) res.statusMessage = REASONS[status] as string;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** The same for a raw upgrade socket, which has no ServerResponse. */
export function sendErrorOnSocket(socket: Socket, error: ClientError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status, body } = PREPARED.get(error) as { status: number; body: Buffer };
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body.toString()}`,
  );
}

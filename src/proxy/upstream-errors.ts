import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Why an upstream exchange failed, as counted in metrics. */
export type UpstreamFailure = 'refused' | 'reset' | 'timeout' | 'dns' | 'other';

/** Raised by the engine when a route's timeout fires, so it maps to 504 rather than 502. */
export const UPSTREAM_TIMEOUT_CODE = 'ERR_UPSTREAM_TIMEOUT';

/**
 * Node's and undici's codes alike: undici's UND_ERR_*_TIMEOUT are the route's timeout (before
 * the headers, between body chunks) or the connect timeout; UND_ERR_SOCKET and UND_ERR_CLOSED
 * an upstream that closed its socket mid-exchange.
 */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = err instanceof Error && 'code' in err ? String(err.code) : '';
  switch (code) {
    case UPSTREAM_TIMEOUT_CODE:
    case 'ETIMEDOUT':
    case 'ERR_UPSTREAM_UPGRADE_TIMEOUT':
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
    case 'HPE_INVALID_CONSTANT':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns';
    default:
      return 'other';
  }
}

/** The only place that turns a failure into a client response. Bodies name no address. */
const RESPONSES = {
  400: { error: 'bad_request', message: 'malformed request target' },
  404: { error: 'no_route', message: 'no route for this host and path' },
  502: { error: 'bad_gateway', message: 'the upstream could not be reached' },
  503: { error: 'unavailable', message: 'the proxy is shutting down' },
  504: { error: 'gateway_timeout', message: 'the upstream did not answer in time' },
} as const;

export type ErrorStatus = keyof typeof RESPONSES;

const BODIES = new Map(
  Object.entries(RESPONSES).map(([status, body]) => [
    Number(status),
    Buffer.from(`${JSON.stringify({ status: Number(status), ...body })}\n`),
  ]),
);

export function statusForFailure(failure: UpstreamFailure): ErrorStatus {
  return failure === 'timeout' ? 504 : 502;
}

/** Sends a JSON error, or cuts the connection when the upstream's headers already went out. */
export function sendError(res: ServerResponse, status: ErrorStatus): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = BODIES.get(status) as Buffer;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** The same for a raw upgrade socket, which has no ServerResponse. */
export function sendErrorOnSocket(socket: Socket, status: ErrorStatus): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = BODIES.get(status) as Buffer;
  const reason = {
    400: 'Bad Request',
    404: 'Not Found',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  }[status];
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.toString()}`,
  );
}

import type { RequestPlan } from '../http1/client-connection.ts';

/**
 * The request head sent upstream: request line, the sanitised headers (forward-headers.ts and
 * the route's rules), and the framing this hop chose: Content-Length as the client sent it,
 * or chunked for a body the client chunked (or HTTP/2 sent without a length). No Connection
 * header: HTTP/1.1 keeps the connection alive by default.
 */
export function requestHead(
  method: string,
  path: string,
  headers: readonly string[],
  body: RequestPlan['body'],
): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (body === 'chunked') head += 'transfer-encoding: chunked\r\n';
  return `${head}\r\n`;
}

/** The same for a WebSocket handshake: the upgrade is asked for again, by this hop. */
export function upgradeHead(path: string, headers: readonly string[], upgrade: string): string {
  let head = `GET ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}connection: upgrade\r\nupgrade: ${upgrade}\r\n\r\n`;
}

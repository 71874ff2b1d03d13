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
  host: string | undefined,
): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  // HTTP/1.1 requires a Host: an HTTP/1.0 client that sent none gets the upstream's own.
  if (host !== undefined) head += `host: ${host}\r\n`;
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

/** Whether a header list has a Host (the guard has made sure there is at most one). */
export function hasHost(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') return true;
  }
  return false;
}

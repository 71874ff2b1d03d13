import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** RFC 9110 §7.6.1 connection-specific headers, plus the non-standard ones proxies strip too. */
export const HOP_BY_HOP: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
];

/** The header names a Connection header value lists: trimmed, lower-cased, none empty. */
export function connectionTokens(value: string): string[] {
  const tokens: string[] = [];
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '') tokens.push(name);
  }
  return tokens;
}

/**
 * Removes hop-by-hop headers and every header the Connection header names. For a WebSocket
 * handshake `Connection: upgrade` and `Upgrade` must reach the upstream, so they are kept.
 * Transfer-Encoding is left to Node, which re-frames bodies on each side by itself.
 */
export function stripHopByHop(headers: IncomingHttpHeaders, keepUpgrade = false): void {
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const name of connectionTokens(connection)) {
      if (!(keepUpgrade && name === 'upgrade')) delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && (name === 'upgrade' || name === 'connection')) continue;
    delete headers[name];
  }
  if (keepUpgrade) headers.connection = 'upgrade';
}

const NOT_FOR_CLIENT = new Set([...HOP_BY_HOP, 'transfer-encoding']);

/**
 * The upstream response's headers as the client gets them: hop-by-hop headers, those the
 * Connection header names, and Transfer-Encoding (Node frames the body for this client itself)
 * left out. A filtered copy rather than stripHopByHop's deletes: deleting a property turns the
 * object into a slow dictionary that writeHead then walks, ~3 µs per response measured, and
 * every upstream response has at least `connection` to drop.
 */
export function responseHeadersForClient(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const connection = headers.connection;
  let named: Set<string> | undefined;
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') {
    named = new Set(connectionTokens(connection));
  }
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (NOT_FOR_CLIENT.has(name) || named?.has(name) === true) continue;
    out[name] = headers[name];
  }
  return out;
}

/**
 * X-Forwarded-For gets the client's address appended (the chain the client sent is kept, as
 * nginx's $proxy_add_x_forwarded_for does); Proto and Host are overwritten, because only this
 * hop knows them: a client could otherwise claim to have arrived over https.
 */
export function setForwardedHeaders(req: IncomingMessage, proto: 'http' | 'https'): void {
  const headers = req.headers;
  const client = req.socket.remoteAddress ?? '';
  const chain = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = chain === undefined || chain === '' ? client : `${chain}, ${client}`;
  headers['x-forwarded-proto'] = proto;
  if (headers.host !== undefined) headers['x-forwarded-host'] = headers.host;
  else delete headers['x-forwarded-host'];
}

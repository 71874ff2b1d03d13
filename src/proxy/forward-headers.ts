import { connectionTokens, HOP_BY_HOP } from './headers.ts';

/**
 * The request headers sent upstream, built in one pass over `req.rawHeaders`: the hot path
 * never builds Node's lazy `req.headers` object, and never mutates anything it was given.
 * Hop-by-hop headers (RFC 9110 §7.6.1) and those the Connection header names are dropped;
 * X-Forwarded-For gets the client appended (nginx's $proxy_add_x_forwarded_for), Proto and
 * Host are set by this hop only. `Expect` and `Transfer-Encoding` are dropped too: Node has
 * already answered `100 Continue` and de-chunked the body, and the engine re-frames it.
 */
export function upstreamHeaders(raw: readonly string[], client: string, proto: string): string[] {
  const named = namedByConnection(raw);
  const out: string[] = [];
  let chain: string | undefined;
  let host: string | undefined;
  let contentLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    switch (name.length) {
      case 2: // te
      case 6: // expect
      case 7: // trailer, upgrade
      case 10: // connection, keep-alive
      case 18: // proxy-authenticate
      case 19: // proxy-authorization
        if (DROPPED.has(name.toLowerCase())) continue;
        break;
      case 4:
        if (name.toLowerCase() === 'host') {
          // A second Host header would be ambiguous; the first one is the one routed on.
          if (host !== undefined) continue;
          host = value;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (contentLength) continue;
          contentLength = true;
        }
        break;
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') {
          chain = chain === undefined ? value : `${chain}, ${value}`;
          continue;
        }
        break;
      case 16: // proxy-connection, x-forwarded-host
      case 17: // transfer-encoding, x-forwarded-proto
        if (DROPPED.has(name.toLowerCase())) continue;
        break;
    }
    if (named !== undefined && named.includes(name.toLowerCase())) continue;
    out.push(name, value);
  }
  out.push(
    'x-forwarded-for',
    chain === undefined || chain === '' ? client : `${chain}, ${client}`,
    'x-forwarded-proto',
    proto,
  );
  if (host !== undefined) out.push('x-forwarded-host', host);
  return out;
}

// The name lengths in upstreamHeaders' switch must cover every name here.
const DROPPED = new Set([
  ...HOP_BY_HOP,
  'expect',
  'transfer-encoding',
  'x-forwarded-host',
  'x-forwarded-proto',
]);

/** Header names listed in Connection, lower-cased; undefined (the usual case) when none. */
function namedByConnection(raw: readonly string[]): string[] | undefined {
  let tokens: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const token of connectionTokens(raw[i + 1] as string)) {
      if (token !== 'close' && token !== 'keep-alive') (tokens ??= []).push(token);
    }
  }
  return tokens;
}

/** The first Host header's value, read from the raw list ('' when absent). */
export function rawHost(raw: readonly string[]): string {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') return raw[i + 1] as string;
  }
  return '';
}

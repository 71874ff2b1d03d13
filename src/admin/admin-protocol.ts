import { createHash, timingSafeEqual } from 'node:crypto';

/** One request line per connection, newline included (review #004). */
export const MAX_REQUEST_BYTES = 4096;
/** The whole line must arrive within this time, however slowly it trickles in (review #004). */
export const REQUEST_TIMEOUT_MS = 5_000;
/** The environment variable holding the optional shared secret (seed S4). */
export const TOKEN_ENV = 'ADMIN_SOCKET_TOKEN';

/** The one JSON object sent back per connection. */
export interface AdminReply {
  readonly status: 'ok' | 'error';
  readonly message?: string;
  readonly [field: string]: unknown;
}

/** Every error text a client can see: fixed strings, never built from input or internals (C3). */
export const CLIENT_ERRORS = {
  forbidden: 'forbidden',
  unauthorized: 'unauthorized',
  unknownCommand: 'unknown command',
  tooLong: 'request too long',
  timeout: 'request timeout',
  reloadFailed: 'reload failed',
  changedDuringRead: 'config file changed during read, please retry',
  endpointsInvalid: "endpoints file unreadable or invalid (see the proxy's log)",
  noEndpointSource: 'no endpoint source: the proxy runs without --endpoints-file',
  endpointsFailed: 'endpoints update failed',
} as const;

export function errorReply(message: string): AdminReply {
  return { status: 'error', message };
}

export function encodeReply(reply: AdminReply): string {
  return `${JSON.stringify(reply)}\n`;
}

/** A request line split into its command, or refused because the token is missing or wrong. */
export type ParsedRequest = { readonly command: string } | { readonly unauthorized: true };

/**
 * Builds the parser for request lines. With a token, a line must be `<token>:<command>`; the
 * split is at the *last* colon (commands never contain one, tokens may). Comparison is over
 * SHA-256 digests with timingSafeEqual: equal lengths whatever was sent, so neither the token's
 * length nor a matching prefix shows in the timing. Only the digest is kept in memory.
 */
export function createRequestParser(token: string | undefined): (line: string) => ParsedRequest {
  const expected = token === undefined || token === '' ? undefined : digest(token);
  return (line) => {
    if (expected === undefined) return { command: normalise(line) };
    const colon = line.lastIndexOf(':');
    // Hash something even without a colon, so a missing token costs the same as a wrong one.
    const given = digest(colon === -1 ? '' : line.slice(0, colon));
    if (colon === -1 || !timingSafeEqual(given, expected)) return { unauthorized: true };
    return { command: normalise(line.slice(colon + 1)) };
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Tolerates `\r\n` and stray blanks from hand-typed requests (socat, nc). */
function normalise(command: string): string {
  return command.trim();
}

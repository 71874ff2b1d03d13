import type { ClientRequest } from './client-side.ts';

/** An HTTP/2 stream's request (Node's compat Http2ServerRequest), not an HTTP/1 message. */
export function isHttp2Stream(req: ClientRequest): boolean {
  return (req as { stream?: unknown }).stream !== undefined;
}

/** HTTP/2 has no framing headers: a body follows unless the HEADERS frame ended the stream. */
export function requestHasBody(req: ClientRequest): boolean {
  if (isHttp2Stream(req)) {
    return (
      (req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders !== true
    );
  }
  return hasBody(req.rawHeaders);
}

/**
 * A body: Content-Length other than 0, or Transfer-Encoding (the parser has already refused a
 * request with both).
 */
export function hasBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (raw[i + 1] !== '0') return true;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      return true;
    }
  }
  return false;
}

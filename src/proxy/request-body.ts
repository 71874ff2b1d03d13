import type { RequestPlan } from '../http1/client-connection.ts';
import type { ClientRequest } from './client-side.ts';

/** An HTTP/2 stream's request (Node's compat Http2ServerRequest), not an HTTP/1 message. */
export function isHttp2Stream(req: ClientRequest): boolean {
  return (req as { stream?: unknown }).stream !== undefined;
}

/** HTTP/2 has no framing headers: a body follows unless the HEADERS frame ended the stream. */
export function requestHasBody(req: ClientRequest): boolean {
  return isHttp2Stream(req) ? !endedAtHeaders(req) : hasBody(req.rawHeaders);
}

/** An HTTP/2 request whose HEADERS frame ended the stream: no body follows. */
function endedAtHeaders(req: ClientRequest): boolean {
  return (req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders;
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

/** How the request's body goes upstream: as framed by the client, or re-chunked. */
export function bodyFraming(req: ClientRequest): RequestPlan['body'] {
  const raw = req.rawHeaders;
  const h2 = req.httpVersionMajor === 2;
  let length: string | undefined;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') length ??= raw[i + 1];
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') chunked = true;
  }
  if (chunked) return 'chunked';
  if (length !== undefined) return length === '0' ? 'none' : 'length';
  if (!h2) return 'none';
  // HTTP/2 has no framing headers: a body follows unless the HEADERS frame ended the stream.
  return endedAtHeaders(req) ? 'none' : 'chunked';
}

import { negotiateEncoding } from './accept-encoding.ts';
import type { Coding } from './accept-encoding.ts';
import type { ClientRequest } from './client-side.ts';

type HeaderObject = Record<string, string | string[] | undefined>;

/**
 * Below this Content-Length a response goes as it is (Traefik's default; Caddy's is 512,
 * nginx's 20): a few hundred bytes saved fit in the packet the body takes anyway, and the
 * compressor's setup costs more than it saves. A body of unknown length is compressed.
 */
export const MIN_COMPRESS_BYTES = 1024;

/**
 * Media types worth compressing: text and the structured text formats, SVG, WebAssembly and
 * uncompressed fonts. Images, video, audio, archives, woff/woff2 are compressed already;
 * application/octet-stream says nothing, so it is left alone (as nginx and Caddy do).
 * text/event-stream is left out: a server-sent event stream lives for hours and would hold a
 * compressor's window (hundreds of KB) for its whole life to save little on small events
 * (Traefik's documentation advises the same exclusion).
 */
const COMPRESSIBLE = new Set([
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/json',
  'application/x-ndjson',
  'application/xml',
  'application/yaml',
  'application/toml',
  'application/wasm',
  'application/vnd.ms-fontobject',
  'application/x-font-ttf',
  'font/ttf',
  'font/otf',
  'font/eot',
  'image/bmp',
  'image/x-icon',
  'image/vnd.microsoft.icon',
]);

/** The media type without its parameters, matched case-insensitively. */
export function isCompressible(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type.startsWith('text/')) return type !== 'text/event-stream';
  return COMPRESSIBLE.has(type) || type.endsWith('+json') || type.endsWith('+xml');
}

/**
 * For a route with `compress: true`: decides whether this response's body is compressed and
 * rewrites its headers to say so, in place. Returns the coding to apply to the body; undefined
 * when it goes as it is (and for HEAD, whose headers still say what GET would get, as nginx's
 * do: Content-Encoding, no Content-Length).
 *
 * A response is a candidate when it has a body that may be transformed: not 1xx, 204, 304 or
 * 206 (nor any Content-Range), not already encoded (passed through untouched, never encoded
 * twice), a compressible Content-Type, no `Cache-Control: no-transform` (RFC 9111 §5.2.2.6),
 * and no Content-Length below MIN_COMPRESS_BYTES. A candidate gets `Vary: Accept-Encoding`
 * whatever this client accepts, so that a cache keeps the variants apart; it is compressed when
 * the client accepts br or gzip (accept-encoding.ts). A compressed response loses its
 * Content-Length (the hop frames it: chunked on HTTP/1.1) and Accept-Ranges (ranges of the
 * compressed variant are not served), and a strong ETag becomes weak (W/, as nginx does): the
 * bytes are no longer the upstream's.
 */
export function prepareCompression(
  req: ClientRequest,
  status: number,
  headers: HeaderObject,
): Coding | undefined {
  if (status < 200 || status === 204 || status === 206 || status === 304) return undefined;
  if (headers['content-encoding'] !== undefined || headers['content-range'] !== undefined) {
    return undefined;
  }
  const type = headers['content-type'];
  if (typeof type !== 'string' || !isCompressible(type)) return undefined;
  if (hasNoTransform(headers['cache-control'])) return undefined;
  const length = headers['content-length'];
  if (length !== undefined && Number(first(length)) < MIN_COMPRESS_BYTES) return undefined;
  addVary(headers);
  const coding = negotiateEncoding(req.rawHeaders);
  if (coding === undefined) return undefined;
  headers['content-encoding'] = coding;
  delete headers['content-length'];
  delete headers['accept-ranges'];
  const etag = headers.etag;
  if (typeof etag === 'string' && etag.startsWith('"')) headers.etag = `W/${etag}`;
  return req.method === 'HEAD' ? undefined : coding;
}

function first(value: string | string[]): string {
  return Array.isArray(value) ? (value[0] ?? '') : value;
}

function hasNoTransform(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  const text = Array.isArray(value) ? value.join(',') : value;
  return /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(text);
}

/** Adds Accept-Encoding to Vary unless it is there already, or Vary is `*`. */
function addVary(headers: HeaderObject): void {
  const current = headers.vary;
  if (current === undefined) {
    headers.vary = 'Accept-Encoding';
    return;
  }
  const text = Array.isArray(current) ? current.join(', ') : current;
  for (const token of text.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '*' || name === 'accept-encoding') return;
  }
  headers.vary = text.trim() === '' ? 'Accept-Encoding' : `${text}, Accept-Encoding`;
}

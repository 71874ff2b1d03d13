import { randomFillSync } from 'node:crypto';

/** Who a request is in logs and traces, as this hop sends it upstream and back. */
export interface RequestIdentity {
  /** `X-Request-Id`: a trusted peer's, or one made here. */
  readonly id: string;
  /** W3C `traceparent` as sent upstream: the client's when valid, else one started here. */
  readonly traceparent: string;
  readonly traceId: string;
  /** The client's `tracestate` goes with its traceparent only (W3C Trace Context §3.3). */
  readonly keepTracestate: boolean;
}

/**
 * A request id worth keeping: what request-id generators emit (UUIDs, ULIDs, base64, hex,
 * `host-pid-counter`) fits; a value that could break a log line or a header does not.
 */
const REQUEST_ID = /^[A-Za-z0-9._:=+/-]{1,200}$/;

/** version 00 (or a later one, read as 00), trace id, parent id, flags; never all-zero ids. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The request's identity from its headers (flat [name, value, ...]): `X-Request-Id` is kept
 * only from a peer inside `trusted_proxies` (anyone else could plant an id that points the
 * logs at another request), generated otherwise. `traceparent` is trace context, not a claim
 * about the client: a valid one is passed on unchanged, whoever sent it (this hop records no
 * span of its own); an invalid or missing one is replaced by a new trace.
 */
export function identify(raw: readonly string[], trusted: boolean): RequestIdentity {
  let id: string | undefined;
  let traceparent: string | undefined;
  let parents = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 12 && trusted && name.toLowerCase() === 'x-request-id') {
      // Two ids: neither is the one. Keep none.
      id = id === undefined ? (raw[i + 1] as string) : '';
    } else if (name.length === 11 && name.toLowerCase() === 'traceparent') {
      traceparent = raw[i + 1] as string;
      parents++;
    }
  }
  const requestId = id !== undefined && REQUEST_ID.test(id) ? id : newRequestId();
  const match = parents === 1 ? TRACEPARENT.exec((traceparent as string).trim()) : null;
  if (match !== null && validTrace(match)) {
    const [, version, traceId, parentId, flags] = match as unknown as string[];
    // A later version is read as version 00 and sent on as such (W3C §4.3).
    const sent =
      version === '00' ? (traceparent as string).trim() : `00-${traceId}-${parentId}-${flags}`;
    return { id: requestId, traceparent: sent, traceId: traceId as string, keepTracestate: true };
  }
  const at = take(24);
  const traceId = pool.toString('hex', at, at + 16);
  const parentId = pool.toString('hex', at + 16, at + 24);
  return {
    id: requestId,
    traceparent: `00-${traceId}-${parentId}-00`,
    traceId,
    keepTracestate: false,
  };
}

function validTrace(match: RegExpExecArray): boolean {
  const [, version, traceId, parentId, , rest] = match;
  if (version === 'ff') return false;
  // Version 00 has exactly four fields; later versions may append more.
  if (version === '00' && rest !== undefined) return false;
  return !/^0+$/.test(traceId as string) && !/^0+$/.test(parentId as string);
}

/**
 * Random bytes for ids, filled 8 KB at a time: one randomFillSync per ~200 requests instead
 * of one OpenSSL call per id (measured: per-request randomBytes cost ~5 µs of a 25 µs
 * request). The bytes are as random as randomBytes'; each is used once.
 */
const pool = Buffer.alloc(8192);
let offset = pool.length;

function take(n: number): number {
  if (offset + n > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += n;
  return at;
}

/** A UUID v4 (RFC 9562 §5.4) from 16 pooled bytes. */
function newRequestId(): string {
  const at = take(16);
  pool[at + 6] = ((pool[at + 6] as number) & 0x0f) | 0x40;
  pool[at + 8] = ((pool[at + 8] as number) & 0x3f) | 0x80;
  const hex = pool.toString('hex', at, at + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

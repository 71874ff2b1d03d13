import type {
  ClientRequest as ClientRequest,
  ClientResponse as ClientResponse,
} from './client-side.ts';
import http2 from 'node:http2';
import type { ServerHttp2Stream } from 'node:http2';
import { Readable } from 'node:stream';
import { sendError } from './upstream-errors.ts';

/** What a cut request body is destroyed with: the client is treated as gone. */
const CLIENT_GONE = Object.assign(new Error('request body cut: too slow'), {
  code: 'ERR_CLIENT_GONE',
});

/** How a slow body ended up cut, as counted in reverse_proxy_client_timeouts_total{phase}. */
export type SlowBody = 'body_idle' | 'body_rate';

/** The stretch over which `client.body_min_rate_bytes_per_s` is measured. */
export const RATE_WINDOW_MS = 10_000;

interface Watched {
  /** HTTP/2: the request's own stream and its response (the socket is the whole session's). */
  readonly h2: { stream: CountedStream; res: ClientResponse; requestId?: string } | undefined;
  bytes: number;
  /** When bytes last arrived (or the upstream last held bytes back). */
  since: number;
  windowStart: number;
  windowBytes: number;
}

export interface BodyLimits {
  readonly idleMs: number;
  /** 0: no minimum. */
  readonly minRate: number;
}

/** The DATA bytes an HTTP/2 stream has received: Http2Stream keeps no count of its own. */
const RECEIVED = Symbol('received');
type CountedStream = ServerHttp2Stream & { [RECEIVED]: number };

/**
 * Installed as an HTTP/2 request stream's own `push`, which Node's http2 core calls for every
 * DATA frame as it arrives, whether or not anyone reads the body yet. A 'data' listener would
 * switch the stream to flowing before the compatibility layer reads it, and lose chunks.
 */
function countingPush(this: CountedStream, chunk: unknown, encoding?: BufferEncoding): boolean {
  if (chunk !== null && chunk !== undefined) this[RECEIVED] += (chunk as Buffer).length;
  return Readable.prototype.push.call(this, chunk, encoding);
}

/**
 * Slow request bodies, the ones that hold an upstream connection while they trickle in (R.U.D.Y.,
 * slow POST). A body is cut, with its connection and the upstream exchange it holds, when
 * - it sends nothing for `client.body_idle_timeout_ms` (nginx's client_body_timeout), or
 * - over any 10 s stretch it sends less than `client.body_min_rate_bytes_per_s` on average
 *   (Apache's mod_reqtimeout MinRate): one byte every 5 s is never idle, and would otherwise
 *   keep its upstream connection until client.request_timeout_ms.
 * Time the body spends waiting for a slow upstream to read it counts for neither.
 *
 * HTTP/2 streams are watched too: flow control bounds how much a stream may buffer, not how
 * slowly it sends, so a trickling stream would hold its upstream exchange just the same. Its
 * bytes are counted per stream, and only that stream is cut, never the shared session: with a
 * 408 when no response has started (Envoy's stream_idle_timeout does the same), then
 * RST_STREAM(NO_ERROR) so the client stops sending (RFC 9113, 8.1); otherwise RST_STREAM(CANCEL).
 *
 * One timer for the process ticks every second over the bodies still arriving and compares the
 * socket's byte count, so a watched request costs one map entry: no listener on the body stream
 * (undici consumes it) and no socket timeout (Node's keep-alive handling owns those). A body is
 * cut within a second of crossing either line.
 */
export class BodyWatch {
  readonly #limits: BodyLimits;
  readonly #watched = new Map<ClientRequest, Watched>();
  readonly #onCut: (req: ClientRequest, why: SlowBody) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(limits: BodyLimits, onCut: (req: ClientRequest, why: SlowBody) => void) {
    this.#limits = limits;
    this.#onCut = onCut;
  }

  /**
   * `res` is needed for HTTP/2 requests only (their violations answer on the stream, with
   * the request's X-Request-Id).
   */
  watch(req: ClientRequest, res?: ClientResponse, requestId?: string): void {
    if (req.complete) return;
    const now = performance.now();
    const stream = (req as { stream?: ServerHttp2Stream }).stream;
    let h2: Watched['h2'];
    let bytes: number;
    if (stream !== undefined && res !== undefined) {
      const counted = stream as CountedStream;
      // What arrived before this point is in the stream's buffer; count it as received.
      counted[RECEIVED] = stream.readableLength;
      counted.push = countingPush;
      h2 = { stream: counted, res, ...(requestId === undefined ? {} : { requestId }) };
      bytes = counted[RECEIVED];
    } else {
      bytes = req.socket.bytesRead;
    }
    this.#watched.set(req, { h2, bytes, since: now, windowStart: now, windowBytes: bytes });
    this.#timer ??= setInterval(() => this.#tick(), 1_000).unref();
  }

  get size(): number {
    return this.#watched.size;
  }

  #tick(): void {
    const now = performance.now();
    for (const [req, seen] of this.#watched) {
      if (seen.h2 !== undefined) {
        const { stream, res, requestId } = seen.h2;
        if (req.complete || stream.destroyed || stream.closed) {
          this.#watched.delete(req);
          continue;
        }
        const heldBack = req.readableLength > 0 || stream.readableLength > 0;
        const why = this.#verdict(seen, stream[RECEIVED], heldBack, now);
        if (why === undefined) continue;
        this.#watched.delete(req);
        this.#onCut(req, why);
        cutStream(req, stream, res, requestId);
        continue;
      }
      const socket = req.socket;
      if (req.complete || socket === null || socket.destroyed) {
        this.#watched.delete(req);
        continue;
      }
      const why = this.#verdict(seen, socket.bytesRead, req.readableLength > 0, now);
      if (why === undefined) continue;
      this.#watched.delete(req);
      this.#onCut(req, why);
      socket.destroy();
    }
    if (this.#watched.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #verdict(seen: Watched, bytes: number, heldBack: boolean, now: number): SlowBody | undefined {
    if (heldBack) {
      // Bytes waiting for the upstream to take them: the client is not the slow one.
      seen.since = now;
      seen.windowStart = now;
      seen.windowBytes = bytes;
      return undefined;
    }
    if (bytes !== seen.bytes) {
      seen.bytes = bytes;
      seen.since = now;
    } else if (now - seen.since >= this.#limits.idleMs) {
      return 'body_idle';
    }
    if (now - seen.windowStart < RATE_WINDOW_MS) return undefined;
    const floor = (this.#limits.minRate * (now - seen.windowStart)) / 1000;
    if (bytes - seen.windowBytes < floor) return 'body_rate';
    seen.windowStart = now;
    seen.windowBytes = bytes;
    return undefined;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }
}

/**
 * Ends one HTTP/2 stream, not its session. The request body is destroyed first, as a client
 * that left: closing the stream alone would end it cleanly, and the upstream would take a
 * truncated body for a whole one. The exchange then aborts upstream and frees its connection.
 */
function cutStream(
  req: ClientRequest,
  stream: ServerHttp2Stream,
  res: ClientResponse,
  requestId: string | undefined,
): void {
  req.destroy(CLIENT_GONE);
  if (res.headersSent) {
    stream.close(http2.constants.NGHTTP2_CANCEL);
    return;
  }
  // The stream's own 'finish' (its writable side is done); the compatibility response's
  // 'finish' waits for the stream to close, which is what this is about to do.
  stream.once('finish', () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
  sendError(res, 'body_timeout', requestId);
}

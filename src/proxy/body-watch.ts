import type { IncomingMessage } from 'node:http';

/** How a slow body ended up cut, as counted in reverse_proxy_client_timeouts_total{phase}. */
export type SlowBody = 'body_idle' | 'body_rate';

/** The stretch over which `client.body_min_rate_bytes_per_s` is measured. */
export const RATE_WINDOW_MS = 10_000;

interface Watched {
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

/**
 * Slow request bodies, the ones that hold an upstream connection while they trickle in (R.U.D.Y.,
 * slow POST). A body is cut, with its connection and the upstream exchange it holds, when
 * - it sends nothing for `client.body_idle_timeout_ms` (nginx's client_body_timeout), or
 * - over any 10 s stretch it sends less than `client.body_min_rate_bytes_per_s` on average
 *   (Apache's mod_reqtimeout MinRate): one byte every 5 s is never idle, and would otherwise
 *   keep its upstream connection until client.request_timeout_ms.
 * Time the body spends waiting for a slow upstream to read it counts for neither.
 *
 * One timer for the process ticks every second over the bodies still arriving and compares the
 * socket's byte count, so a watched request costs one map entry: no listener on the body stream
 * (undici consumes it) and no socket timeout (Node's keep-alive handling owns those). A body is
 * cut within a second of crossing either line.
 */
export class BodyWatch {
  readonly #limits: BodyLimits;
  readonly #watched = new Map<IncomingMessage, Watched>();
  readonly #onCut: (req: IncomingMessage, why: SlowBody) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(limits: BodyLimits, onCut: (req: IncomingMessage, why: SlowBody) => void) {
    this.#limits = limits;
    this.#onCut = onCut;
  }

  watch(req: IncomingMessage): void {
    if (req.complete) return;
    const now = performance.now();
    const bytes = req.socket.bytesRead;
    this.#watched.set(req, { bytes, since: now, windowStart: now, windowBytes: bytes });
    this.#timer ??= setInterval(() => this.#tick(), 1_000).unref();
  }

  get size(): number {
    return this.#watched.size;
  }

  #tick(): void {
    const now = performance.now();
    for (const [req, seen] of this.#watched) {
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

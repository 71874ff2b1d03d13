import type { IncomingMessage } from 'node:http';

interface Watched {
  bytes: number;
  since: number;
}

/**
 * `client.body_idle_timeout_ms`: a request body that sends nothing for that long has its
 * connection closed, and with it the upstream exchange it holds. One timer for the process
 * ticks every second over the bodies still arriving and compares the socket's byte count,
 * so a watched request costs one map entry: no listener on the body stream (undici consumes
 * it) and no socket timeout (Node's keep-alive handling owns those). A body is cut between
 * the timeout and one second after it; time the body spends waiting for a slow upstream to
 * read it does not count.
 */
export class BodyIdleWatch {
  readonly #idleMs: number;
  readonly #watched = new Map<IncomingMessage, Watched>();
  readonly #onIdle: (req: IncomingMessage) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(idleMs: number, onIdle: (req: IncomingMessage) => void) {
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
  }

  watch(req: IncomingMessage): void {
    if (req.complete) return;
    this.#watched.set(req, { bytes: req.socket.bytesRead, since: performance.now() });
    this.#timer ??= setInterval(() => this.#tick(), 1_000).unref();
  }

  get size(): number {
    return this.#watched.size;
  }

  #tick(): void {
    const now = performance.now();
    for (const [req, seen] of this.#watched) {
      const socket = req.socket;
      if (req.complete || socket.destroyed) {
        this.#watched.delete(req);
      } else if (socket.bytesRead !== seen.bytes || req.readableLength > 0) {
        // Bytes that arrived, or bytes still waiting for the upstream to take them: either
        // way the client is not the one that is idle.
        seen.bytes = socket.bytesRead;
        seen.since = now;
      } else if (now - seen.since >= this.#idleMs) {
        this.#watched.delete(req);
        this.#onIdle(req);
        socket.destroy();
      }
    }
    if (this.#watched.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }
}

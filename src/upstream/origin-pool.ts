import net from 'node:net';
import tls from 'node:tls';
import { ClientConnection } from '../http1/client-connection.ts';
import type { ConnectionOwner } from '../http1/client-connection.ts';
import { UpstreamError, upstreamErrorOf } from '../http1/upstream-error.ts';

/** How many connections an origin may have, how many requests may wait, how long idle ones live. */
export interface PoolLimits {
  readonly maxConnections: number;
  readonly maxQueued: number;
  readonly idleTimeoutMs: number;
}

/** Told once: a connection for the request, or why there is none. */
export interface Waiter {
  granted(connection: ClientConnection): void;
  refused(err: UpstreamError): void;
}

interface Queued {
  readonly waiter: Waiter;
  readonly connectMs: number;
}

/** What acquire() says: a connection now, or later through the waiter, or never ('busy'). */
export type Acquired = ClientConnection | 'queued' | 'busy';

/** What a request gets when acquire() says 'busy': the proxy refused it, the upstream was never asked. */
export function poolFull(origin: string): UpstreamError {
  return new UpstreamError('busy', `upstream ${origin}: pool and queue are full`);
}

/** The figures the metrics show per origin. */
export interface PoolFigures {
  readonly origin: string;
  readonly inFlight: number;
  readonly connected: number;
  readonly queued: number;
}

/**
 * The keep-alive connections to one origin (`http://host:port`), shared by every route that
 * names it. A request takes the connection that has been idle longest (a Service VIP's
 * kube-proxy balances connections, not requests: rotating over the pooled ones gives every pod
 * behind it a share even at one request at a time), or opens one while fewer than
 * `maxConnections` exist, or waits in a queue of at most `maxQueued`; past that it is refused
 * at once ('busy', a 503) rather than piling up. Idle connections close after `idleTimeoutMs`,
 * shorter than common upstream keep-alive defaults (Node 5 s, Apache 5 s) so the upstream
 * rarely closes one just as a request goes out on it.
 */
export class OriginPool implements ConnectionOwner {
  readonly origin: string;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: boolean;
  readonly #limits: PoolLimits;
  /** Idle connections, the one idle longest first. */
  readonly #idle: ClientConnection[] = [];
  readonly #all = new Set<ClientConnection>();
  #connecting = 0;
  readonly #queue: Queued[] = [];
  #closed = false;

  constructor(origin: string, limits: PoolLimits) {
    const url = new URL(origin);
    this.origin = origin;
    this.#tls = url.protocol === 'https:';
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = Number(url.port === '' ? (this.#tls ? 443 : 80) : url.port);
    this.#limits = limits;
  }

  /** A connection for one request; `waiter` hears later when the answer is not immediate. */
  acquire(connectMs: number, waiter: Waiter): Acquired {
    const idle = this.#takeIdle();
    if (idle !== undefined) return idle;
    if (this.#all.size + this.#connecting < this.#limits.maxConnections) {
      this.#connect(connectMs, waiter);
      return 'queued';
    }
    if (this.#queue.length >= this.#limits.maxQueued) return 'busy';
    this.#queue.push({ waiter, connectMs });
    return 'queued';
  }

  /** A waiting request whose client left: it gives up its place. */
  cancel(waiter: Waiter): void {
    const at = this.#queue.findIndex((q) => q.waiter === waiter);
    if (at !== -1) this.#queue.splice(at, 1);
  }

  #takeIdle(): ClientConnection | undefined {
    let connection: ClientConnection | undefined;
    while ((connection = this.#idle.shift()) !== undefined) {
      if (connection.usable) return connection;
      connection.close();
    }
    return undefined;
  }

  released(connection: ClientConnection): void {
    if (this.#closed) return connection.close();
    const next = this.#queue.shift();
    if (next !== undefined) return next.waiter.granted(connection);
    this.#idle.push(connection);
  }

  closed(connection: ClientConnection): void {
    if (!this.#all.delete(connection)) return;
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    // A place is free: the longest-waiting request gets a new connection.
    const next = this.#queue.shift();
    if (next !== undefined) this.#connect(next.connectMs, next.waiter);
  }

  #connect(connectMs: number, waiter: Waiter): void {
    this.#connecting++;
    const socket = this.#tls
      ? tls.connect({
          host: this.#host,
          port: this.#port,
          servername: net.isIP(this.#host) === 0 ? this.#host : undefined,
          ALPNProtocols: ['http/1.1'],
        })
      : net.connect({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    socket.setTimeout(connectMs);
    const failed = (err: UpstreamError) => {
      this.#connecting--;
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      waiter.refused(err);
      // The failed attempt's place may serve a queued request (which tries on its own timer).
      const next = this.#queue.shift();
      if (next !== undefined) this.#connect(next.connectMs, next.waiter);
    };
    socket.once('error', (err: NodeJS.ErrnoException) => failed(upstreamErrorOf(err)));
    socket.once('timeout', () =>
      failed(
        new UpstreamError('connect_timeout', `no connection to ${this.origin} in ${connectMs} ms`),
      ),
    );
    socket.once(this.#tls ? 'secureConnect' : 'connect', () => {
      this.#connecting--;
      socket.removeAllListeners();
      const connection = new ClientConnection(
        socket,
        this.origin,
        this,
        this.#limits.idleTimeoutMs,
      );
      this.#all.add(connection);
      if (this.#closed) {
        connection.close();
        return waiter.refused(new UpstreamError('other', 'proxy shutting down'));
      }
      waiter.granted(connection);
    });
  }

  figures(): PoolFigures {
    const connected = this.#all.size;
    return {
      origin: this.origin,
      connected,
      queued: this.#queue.length,
      inFlight: connected - this.#idle.length + this.#connecting + this.#queue.length,
    };
  }

  /**
   * Closes the idle connections only (an origin no route uses any more: an endpoint that left).
   * Busy ones finish their request and go idle, then close on the idle timeout.
   */
  closeIdle(): void {
    for (const connection of this.#idle.splice(0)) connection.close();
  }

  /** Closes idle connections now and busy ones as they finish. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.close();
    for (const queued of this.#queue.splice(0)) {
      queued.waiter.refused(new UpstreamError('other', 'proxy shutting down'));
    }
  }
}

/**
 * The attacking side of `hostile-load.ts`: many raw TCP connections to one port, each sending a
 * fixed opening (a partial header, a complete GET, POST headers), then optionally one byte every
 * few seconds, and recording when the server closed it (FIN or RST) and the first line it sent.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';

/** One attacking connection, as seen from the client. Times are epoch milliseconds. */
export interface HeldConnection {
  openedAt: number;
  /**
   * When the server's timeout clock starts: the connection's open for a partial request, the
   * end of the response for the idle keep-alive case.
   */
  clockFrom: number;
  closedAt?: number;
  /** 'fin', or the socket error code ('ECONNRESET', 'EPIPE'). */
  closedBy?: string;
  /** The first line the server sent, if it sent anything after the opening's response. */
  firstLine?: string;
  /** Set when the opening itself failed (no or a bad response): not an attack connection. */
  failed?: string;
  bytesSent: number;
}

export interface AttackPlan {
  readonly port: number;
  readonly count: number;
  /** Connections opened at once; the next batch waits for this one (bounded accept bursts). */
  readonly batch: number;
  /** Written as soon as the connection is established. */
  readonly opening: string;
  /** Read one complete response to `opening` (Content-Length framed) before going idle. */
  readonly awaitResponse: boolean;
  /** Then one byte every `everyMs` on each connection, spread evenly over the interval. */
  readonly trickle?: { readonly byte: string; readonly everyMs: number };
  readonly stepTimeoutMs: number;
  /**
   * Connections per source address: the first `perSource` from 127.0.0.1, the next from
   * 127.0.0.2, and so on (all loopback), since one address has one ephemeral port range
   * (~28,000 ports) towards a given port. Default: all from 127.0.0.1.
   */
  readonly perSource?: number;
}

const TICK_MS = 100;

export class Attack {
  readonly conns: HeldConnection[] = [];
  readonly #sockets: Socket[] = [];
  readonly #plan: AttackPlan;
  connectFailures = 0;
  responseFailures = 0;
  #ticker: NodeJS.Timeout | undefined;
  #over = false;
  #tried = 0;

  constructor(plan: AttackPlan) {
    this.#plan = plan;
  }

  /** Opens every connection, batch by batch; resolves once all have been tried. */
  async open(): Promise<void> {
    for (let i = 0; i < this.#plan.count && !this.#over; i += this.#plan.batch) {
      const n = Math.min(this.#plan.batch, this.#plan.count - i);
      await Promise.all(Array.from({ length: n }, () => this.#openOne()));
    }
    const trickle = this.#plan.trickle;
    if (trickle === undefined) return;
    const slots = Math.max(1, Math.round(trickle.everyMs / TICK_MS));
    let tick = 0;
    this.#ticker = setInterval(() => {
      const slot = tick++ % slots;
      for (let i = slot; i < this.conns.length; i += slots) {
        const conn = this.conns[i] as HeldConnection;
        const socket = this.#sockets[i] as Socket;
        if (conn.closedAt !== undefined || socket.destroyed || socket.writableEnded) continue;
        socket.write(trickle.byte);
        conn.bytesSent++;
      }
    }, TICK_MS);
  }

  /** The connections whose opening went as planned: what the server's timeouts are about. */
  get held(): HeldConnection[] {
    return this.conns.filter((c) => c.failed === undefined);
  }

  /** Held connections the server has not closed yet. */
  get openCount(): number {
    return this.held.reduce((n, c) => n + (c.closedAt === undefined ? 1 : 0), 0);
  }

  get firstCloseAt(): number | undefined {
    const times = this.held.flatMap((c) => (c.closedAt === undefined ? [] : [c.closedAt]));
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** Stops the trickle and destroys what is still open; those stay without a `closedAt`. */
  stop(): void {
    this.#over = true;
    clearInterval(this.#ticker);
    for (const socket of this.#sockets) socket.destroy();
  }

  #openOne(): Promise<void> {
    const plan = this.#plan;
    return new Promise((resolve) => {
      const source = Math.floor(this.#tried++ / (plan.perSource ?? Number.POSITIVE_INFINITY));
      const socket = connect({
        host: '127.0.0.1',
        port: plan.port,
        ...(source === 0 ? {} : { localAddress: `127.0.0.${1 + source}` }),
      });
      let conn: HeldConnection | undefined;
      let head = '';
      let bodyLeft = -1;
      let settled = false;
      const settle = (failure?: 'connect' | 'response') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (failure === 'connect') this.connectFailures++;
        if (failure === 'response') this.responseFailures++;
        resolve();
      };
      const timer = setTimeout(() => {
        if (conn === undefined) socket.destroy();
        else if (plan.awaitResponse) conn.failed = 'no response in time';
        settle(conn === undefined ? 'connect' : 'response');
      }, plan.stepTimeoutMs);
      const closed = (by: string) => {
        if (conn === undefined) {
          socket.destroy();
          settle('connect');
          return;
        }
        if (this.#over || conn.closedAt !== undefined) return;
        conn.closedAt = Date.now();
        conn.closedBy = by;
        if (plan.awaitResponse && bodyLeft !== 0)
          conn.failed ??= `closed before the response (${by})`;
        settle('response');
      };
      socket.once('connect', () => {
        const now = Date.now();
        conn = { openedAt: now, clockFrom: now, bytesSent: 0 };
        this.conns.push(conn);
        this.#sockets.push(socket);
        socket.write(plan.opening);
        conn.bytesSent += plan.opening.length;
        if (!plan.awaitResponse) settle();
      });
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        if (conn === undefined) return;
        if (plan.awaitResponse && bodyLeft !== 0) {
          // Reading the opening's response: headers, then Content-Length bytes of body.
          if (bodyLeft < 0) {
            head += chunk;
            const end = head.indexOf('\r\n\r\n');
            if (end === -1) return;
            const length = /\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, end))?.[1];
            if (!head.startsWith('HTTP/1.1 200') || length === undefined) {
              conn.failed = head.split('\r\n', 1)[0]?.slice(0, 80) ?? 'bad response';
              settle('response');
              socket.destroy();
              return;
            }
            bodyLeft = Number(length) - (head.length - end - 4);
          } else {
            bodyLeft -= chunk.length;
          }
          if (bodyLeft <= 0) {
            bodyLeft = 0;
            conn.clockFrom = Date.now();
            settle();
          }
          return;
        }
        conn.firstLine ??= chunk.split('\r\n', 1)[0]?.slice(0, 80);
      });
      socket.once('end', () => closed('fin'));
      socket.on('error', (err: NodeJS.ErrnoException) => closed(err.code ?? 'error'));
      socket.once('close', () => closed('close'));
    });
  }
}

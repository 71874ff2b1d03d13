/**
 * One client connection of bench/fuzz.ts: writes a case's bytes in its planned splits, then
 * reads until the exchange ends, or the bound passes (a hang). Each connection is destroyed at
 * the end whatever happened, so a hang costs the fuzzer one bound and nothing more.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { finalStatuses, ResponseReader } from './fuzz-framing.ts';
import type { Answer } from './fuzz-framing.ts';
import type { HostileCase, RequestCase } from './fuzz-requests.ts';
import { writePlan } from './fuzz-random.ts';

/** Kept of what the proxy sent, for the report of a failing case (responses are small). */
const KEEP_BYTES = 64 * 1024;
/** Silence after the expected answers before the client lets go (more bytes would be extra). */
const QUIET_MS = 20;
/**
 * Once a bound passes, how long the fuzzer waits before calling it a hang: a close that the
 * kernel already delivered is read on the next turn of the loop, which a busy fuzzer may be
 * late to.
 */
const GRACE_MS = 1_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** A response head line saying the proxy will close the connection after it. */
const ANNOUNCES_CLOSE = /\r\nconnection: *close\r\n/i;

export interface Received {
  /** What the proxy sent, its first KEEP_BYTES. */
  readonly bytes: Buffer;
  readonly total: number;
  /** The proxy closed the connection (FIN or RST). */
  readonly closed: boolean;
}

export interface RequestOutcome extends Received {
  /** Final statuses at line starts in what came back. */
  readonly statuses: readonly number[];
  readonly hang: boolean;
  /** The client reset the connection on purpose (`abort` ending). */
  readonly aborted: boolean;
  readonly connectError: string | undefined;
}

export interface ResponseOutcome extends Received {
  readonly answers: readonly Answer[];
  readonly malformed: string | undefined;
  readonly hang: boolean;
  readonly connectError: string | undefined;
}

/** A connection and what it received so far; `changed` wakes whoever waits on it. */
class Connection {
  readonly socket: net.Socket;
  readonly #kept: Buffer[] = [];
  #keptBytes = 0;
  total = 0;
  closed = false;
  #wake: (() => void) | undefined;

  constructor(port: number, onData?: (chunk: Buffer) => void, onClose?: () => void) {
    this.socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.socket.on('error', () => undefined);
    this.socket.on('data', (chunk: Buffer) => {
      this.total += chunk.length;
      if (this.#keptBytes < KEEP_BYTES) {
        this.#kept.push(chunk.subarray(0, KEEP_BYTES - this.#keptBytes));
        this.#keptBytes += Math.min(chunk.length, KEEP_BYTES - this.#keptBytes);
      }
      onData?.(chunk);
      this.#wake?.();
    });
    this.socket.on('close', () => {
      this.closed = true;
      onClose?.();
      this.#wake?.();
    });
  }

  /** Resolves with an error code, or undefined once connected. */
  connected(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('connect timeout'), CONNECT_TIMEOUT_MS);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      this.socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(err.code ?? err.message);
      });
    });
  }

  /** Resolves on the next byte or close, or after `ms`. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  bytes(): Buffer {
    return Buffer.concat(this.#kept);
  }

  /**
   * Waits until `settled()` or the proxy closes; `deadline()` (epoch ms) may move on as the
   * exchange makes progress. False when it passed, even after the grace: a hang.
   */
  async settle(settled: () => boolean, deadline: () => number): Promise<boolean> {
    while (!this.closed && !settled()) {
      const left = deadline() - Date.now();
      if (left <= 0) break;
      await this.changed(Math.min(left, 1_000));
    }
    if (this.closed || settled()) return true;
    await sleep(GRACE_MS);
    return this.closed || settled();
  }

  /** Resolves once `ms` pass with nothing received (or on close). */
  async quiet(ms: number): Promise<void> {
    for (;;) {
      const before = this.total;
      await this.changed(ms);
      if (this.closed || this.total === before) return;
    }
  }
}

/**
 * Phase 1: the case's bytes to the proxy, then its ending: `linger` until as many final
 * responses as requests were generated (or a close), `fin` and `hold` until the proxy closes,
 * `abort` resets the connection and is over at once.
 */
export async function requestExchange(
  port: number,
  c: RequestCase,
  boundMs: number,
): Promise<RequestOutcome> {
  const conn = new Connection(port);
  let statuses: number[] = [];
  const outcome = (hang: boolean, aborted: boolean, connectError?: string): RequestOutcome => ({
    bytes: conn.bytes(),
    total: conn.total,
    closed: conn.closed,
    statuses,
    hang,
    aborted,
    connectError,
  });
  try {
    const error = await conn.connected();
    if (error !== undefined) return outcome(false, false, error);
    if (c.ending === 'abort') {
      const plan = { pieces: c.plan.pieces.slice(0, c.abortAfter), gaps: c.plan.gaps };
      await writePlan(conn.socket, plan, () => conn.closed);
      conn.socket.resetAndDestroy();
      return outcome(false, true);
    }
    await writePlan(conn.socket, c.plan, () => conn.closed);
    if (c.ending === 'fin') conn.socket.end();
    const deadline = Date.now() + boundMs;
    // Answered: as many final responses as requests were generated, and none of them said
    // `Connection: close` (then the proxy must close, and the exchange ends only when it does).
    const answered = () => {
      if (c.ending !== 'linger') return false;
      const text = conn.bytes().toString('latin1');
      statuses = finalStatuses(text);
      return statuses.length >= c.messages && !ANNOUNCES_CLOSE.test(text);
    };
    const ended = await conn.settle(answered, () => deadline);
    // Let a trailing body or an extra response arrive before letting go.
    if (ended && !conn.closed) await conn.quiet(QUIET_MS);
    statuses = finalStatuses(conn.bytes().toString('latin1'));
    return outcome(!ended, false);
  } finally {
    conn.socket.destroy();
  }
}

/**
 * Phase 2: valid requests through the proxy to the hostile upstream; each must get an answer
 * (a response, a cut response, or a close) within the bound, counted from the last write or the
 * last answer, since the proxy forwards pipelined requests one at a time.
 */
export async function responseExchange(
  port: number,
  c: HostileCase,
  boundMs: number,
): Promise<ResponseOutcome> {
  const reader = new ResponseReader(c.requests.map((r) => r.method));
  const conn = new Connection(
    port,
    (chunk) => reader.feed(chunk),
    () => reader.close(),
  );
  const outcome = (hang: boolean, connectError?: string): ResponseOutcome => ({
    bytes: conn.bytes(),
    total: conn.total,
    closed: conn.closed,
    answers: reader.answers,
    malformed: reader.malformed,
    hang,
    connectError,
  });
  try {
    const error = await conn.connected();
    if (error !== undefined) return outcome(false, error);
    await writePlan(conn.socket, c.plan, () => conn.closed);
    let progressAt = Date.now();
    let answers = 0;
    const deadline = () => {
      if (reader.answers.length > answers) {
        answers = reader.answers.length;
        progressAt = Date.now();
      }
      return progressAt + boundMs;
    };
    // A response that said `Connection: close` is not over until the proxy closes.
    const over = () => reader.malformed !== undefined || (reader.done && !reader.closeAnnounced);
    const ended = await conn.settle(over, deadline);
    // Bytes after the last response would be a second framing of it: wait for a moment.
    if (ended && reader.malformed === undefined && !conn.closed) await conn.quiet(QUIET_MS);
    return outcome(!ended);
  } finally {
    conn.socket.destroy();
  }
}

import type { Socket } from 'node:net';
import type { ConnectionClock, Ticking } from './connection-clock.ts';
import type { BodyFlow, IncomingRequest } from './incoming-request.ts';
import { OutgoingResponse } from './outgoing-response.ts';
import type { ResponseOwner } from './outgoing-response.ts';
import { refusalBytes, refusalOf } from './refusals.ts';
import type { Refusal } from './refusals.ts';
import { RequestReader } from './request-reader.ts';
import type { ReaderSink } from './request-reader.ts';

/** What the connection hands its requests to. */
export interface ServerHooks {
  request(req: IncomingRequest, res: OutgoingResponse): void;
  /** A WebSocket handshake: the socket (and what followed the head) are the caller's now. */
  upgrade(req: IncomingRequest, socket: Socket, head: Buffer): void;
  /** Whether an upgrade request is one this proxy upgrades; any other is served plainly. */
  upgrades(req: IncomingRequest): boolean;
  draining(): boolean;
  /** The codec answered by itself (no request reached the request path): for the access log. */
  refused?(refusal: Refusal, socket: Socket): void;
}

/** client.* timeouts, in ms (0: none for the request timeout). */
export interface ConnectionTimeouts {
  readonly headerMs: number;
  readonly requestMs: number;
  readonly keepAliveMs: number;
}

/** Requests waiting their turn at which the socket is not read, and at which it is again. */
export const HOLD_AT = 8;
const READ_AGAIN_AT = 2;

/** How long a closed connection still reads (and drops) what its client sends, as nginx's lingering_timeout. */
export const LINGER_MS = 5_000;

interface Entry {
  readonly req: IncomingRequest;
  readonly res: OutgoingResponse;
  /** A WebSocket handshake: handed over when its turn comes. */
  head?: Buffer;
}

/**
 * One client connection speaking HTTP/1.1 (its requests read by request-reader.ts). Requests are
 * answered one at a time and in order, as nginx does: pipelined ones wait their turn (running
 * them side by side upstream only multiplies upstream connections), and once HOLD_AT wait the
 * socket is not read until READ_AGAIN_AT remain, so what is parsed ahead is bounded by one
 * read. Requests are handed on only after a whole read has been parsed, so a request whose
 * body is broken within that read never reaches an upstream. Every complete request before
 * bytes that do not parse is answered, in order; then the refusal, and the connection closes.
 */
export class ServerConnection implements BodyFlow, ResponseOwner, ReaderSink, Ticking {
  readonly socket: Socket;
  readonly #hooks: ServerHooks;
  readonly #timeouts: ConnectionTimeouts;
  readonly #clock: ConnectionClock;
  readonly #reader: RequestReader;
  readonly #queue: Entry[] = [];
  #active: Entry | undefined;
  /** The entry of the request being read, until its message completes. */
  #reading: Entry | undefined;
  /** When the request being read began (or the connection, or the last response ended). */
  #since: number;
  #bytesSeen = false;
  /** No more requests are read (a refusal, a close asked for, an upgrade, the peer's end). */
  #stopped = false;
  #refusal: Refusal | undefined;
  #held = false;
  #bodyHeld = false;
  #pumping = false;
  #closed = false;
  // Kept so that an upgrade removes these and no one else's (#detach).
  readonly #dataListener = (chunk: Buffer): void => this.#onData(chunk);
  readonly #endListener = (): void => this.#onPeerEnd();
  readonly #errorListener = (): void => void this.socket.destroy();
  readonly #closeListener = (): void => this.#onClose();
  /** Our side is closed: when the last bytes were answered (see #finishStopped). */
  #lingerSince: number | undefined;

  constructor(
    socket: Socket,
    hooks: ServerHooks,
    timeouts: ConnectionTimeouts,
    clock: ConnectionClock,
  ) {
    this.socket = socket;
    this.#hooks = hooks;
    this.#timeouts = timeouts;
    this.#clock = clock;
    this.#since = performance.now();
    this.#reader = new RequestReader(socket, this, this);
    socket.on('data', this.#dataListener);
    socket.on('end', this.#endListener);
    socket.on('error', this.#errorListener);
    socket.on('close', this.#closeListener);
    clock.add(this);
  }

  /** Nothing in flight or waiting: shutdown may close it now. */
  get idle(): boolean {
    return this.#active === undefined && this.#queue.length === 0 && !this.#reader.inHead;
  }

  draining(): boolean {
    return this.#hooks.draining();
  }

  /** Shutdown: close now if idle; otherwise after the response in flight. */
  closeIfIdle(): void {
    const lingering = this.#lingerSince !== undefined;
    if (lingering || (this.idle && this.#reader.current === undefined)) this.socket.destroy();
  }

  requestBegan(): void {
    this.#since = performance.now();
  }

  requestHead(req: IncomingRequest): void {
    const entry: Entry = { req, res: new OutgoingResponse(req, this) };
    this.#reading = entry;
    this.#queue.push(entry);
  }

  #onData(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#bytesSeen = true;
    let stop = this.#reader.read(chunk);
    while (stop !== undefined) {
      if (stop.kind === 'closed') {
        this.#stop();
        break;
      }
      if (stop.kind === 'error') {
        this.#parseFailed(stop.code, stop.reason, stop.broken);
        break;
      }
      const rest = this.#afterUpgradeHead(stop.req, stop.rest);
      stop = rest === undefined ? undefined : this.#reader.continueAfter(rest);
    }
    this.#pump();
  }

  #entryOf(req: IncomingRequest | undefined): Entry | undefined {
    if (req === undefined) return undefined;
    if (this.#reading?.req === req) return this.#reading;
    if (this.#active?.req === req) return this.#active;
    return this.#queue.find((entry) => entry.req === req);
  }

  /**
   * llhttp stops after a request that asks to upgrade (or CONNECT). A WebSocket handshake is
   * handed over in its turn with the bytes that followed; any other is served as a plain
   * request (its body already read) and reading goes on. Returns what is left to read.
   */
  #afterUpgradeHead(req: IncomingRequest, rest: Buffer): Buffer | undefined {
    const entry = this.#entryOf(req) as Entry;
    if (req.method !== 'CONNECT' && this.#hooks.upgrades(req)) {
      entry.head = rest;
      this.#stop();
      return undefined;
    }
    if (req.method === 'CONNECT') {
      // What follows a CONNECT is the tunnel it asked for, never another request: refuse and close.
      entry.res.setHeader('connection', 'close');
      this.#stop();
      return undefined;
    }
    return rest;
  }

  #parseFailed(code: string, reason: string | undefined, brokenReq?: IncomingRequest): void {
    const broken = this.#entryOf(brokenReq);
    this.#refuse(refusalOf(code, reason));
    if (broken === undefined) return;
    // A request whose body does not frame: its reader hears it failed (an exchange then gives
    // up without blaming the upstream); if it had not started yet, it never will.
    this.#drop(broken, new Error(`request body does not parse: ${code}`));
  }

  /** A request that will never be whole: out of the queue, its reader told, its turn ended. */
  #drop(entry: Entry, err: Error): void {
    const at = this.#queue.indexOf(entry);
    if (at !== -1) this.#queue.splice(at, 1);
    entry.req.fail(err);
    if (this.#active !== entry) return;
    // Its answer is the refusal, or the cut when its response had already started.
    this.#active = undefined;
    entry.res.closed();
    if (entry.res.headersSent) this.socket.destroy();
  }

  /** No more requests; answer what is queued, then `refusal` (if any), then close. */
  #refuse(refusal: Refusal): void {
    this.#refusal ??= refusal;
    this.#stop();
  }

  #stop(): void {
    this.#stopped = true;
    this.socket.pause();
  }

  /** Starts the next request when none is in flight; loops rather than recursing. */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    try {
      while (this.#active === undefined) {
        const next = this.#queue.shift();
        if (next === undefined) {
          if (this.#stopped) this.#finishStopped();
          break;
        }
        this.#start(next);
      }
      if (!this.#stopped) this.#holdIfBehind();
    } finally {
      this.#pumping = false;
    }
  }

  #start(entry: Entry): void {
    this.#active = entry;
    const req = entry.req;
    if (entry.head !== undefined) {
      this.#detach();
      this.#hooks.upgrade(req, this.socket, entry.head);
      return;
    }
    if (req.httpVersionMinor >= 1 && expectsContinue(req.rawHeaders)) {
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
    }
    this.#hooks.request(req, entry.res);
  }

  /**
   * Nothing left to answer on a stopped connection: the refusal, if any, then close. What the
   * client still sends (the rest of a body nobody reads) is read and dropped for LINGER_MS, so
   * that the close does not turn into a reset that destroys the answer before it is read (what
   * nginx's lingering close does); then the connection is cut.
   */
  #finishStopped(): void {
    const refusal = this.#refusal;
    if (refusal !== undefined && this.#bytesSeen) {
      this.socket.end(refusalBytes(refusal));
      this.#hooks.refused?.(refusal, this.socket);
    } else this.socket.end();
    this.#closed = true;
    this.#lingerSince = performance.now();
    this.socket.resume();
  }

  responseDone(res: OutgoingResponse, keepAlive: boolean): void {
    const active = this.#active;
    if (active === undefined || active.res !== res) return;
    this.#active = undefined;
    this.#since = performance.now();
    if (!keepAlive) {
      // The response said it closes: nothing after it is answered.
      this.#queue.length = 0;
      this.#refusal = undefined;
      this.#stop();
    }
    res.closed();
    if (!res.req.complete && !this.#stopped) {
      // Answered before its body arrived: the rest of the body is read and dropped.
      res.req.on('data', () => undefined).resume();
    }
    if (this.#held && this.#queue.length <= READ_AGAIN_AT) {
      this.#held = false;
      if (!this.#bodyHeld && !this.#stopped) this.socket.resume();
    }
    if (this.socket.writableNeedDrain) {
      // A client that does not read: its next turn waits for its buffer to empty.
      this.socket.once('drain', () => this.#pump());
      return;
    }
    this.#pump();
  }

  #holdIfBehind(): void {
    if (this.#queue.length >= HOLD_AT && !this.#held) {
      this.#held = true;
      this.socket.pause();
    }
  }

  holdBody(): void {
    this.#bodyHeld = true;
    this.socket.pause();
  }

  readBody(): void {
    this.#bodyHeld = false;
    if (!this.#held && !this.#stopped) this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  tick(now: number): void {
    if (this.#lingerSince !== undefined) {
      if (now - this.#lingerSince >= LINGER_MS) this.socket.destroy();
      return;
    }
    const { headerMs, requestMs, keepAliveMs } = this.#timeouts;
    const elapsed = now - this.#since;
    if (!this.#bytesSeen) {
      // A connection that never sent a byte gets the header timeout, then closes in silence.
      if (elapsed >= headerMs) this.socket.destroy();
      return;
    }
    if (this.#stopped) return;
    if (this.#reader.inHead) {
      if (elapsed >= headerMs) this.#timedOut();
      return;
    }
    if (this.#reader.current !== undefined) {
      if (requestMs > 0 && elapsed >= requestMs) this.#timedOut();
      return;
    }
    if (this.idle && elapsed >= keepAliveMs) this.socket.destroy();
  }

  /** Headers or the whole request took too long: 408 in its turn, then close. */
  #timedOut(): void {
    const current = this.#entryOf(this.#reader.abandon());
    if (current?.res.finished === true) {
      // Answered before its body was whole: nothing more to say, only the close.
      this.#stop();
      return this.#pump();
    }
    this.#refuse('request_timeout');
    if (current !== undefined) this.#drop(current, new Error('request timeout'));
    this.#pump();
  }

  /** The client half-closed: what it sent is answered, then the connection ends. */
  #onPeerEnd(): void {
    if (this.#stopped) return;
    if (!this.#reader.endOfInput()) return void this.socket.destroy(); // a request cut short
    this.#stop();
    this.#pump();
  }

  /** An upgrade took the socket: this connection lets go of it. */
  #detach(): void {
    this.#closed = true;
    this.#clock.delete(this);
    const socket = this.socket;
    socket.off('data', this.#dataListener);
    socket.off('end', this.#endListener);
    socket.off('close', this.#closeListener);
    socket.off('error', this.#errorListener);
    this.#reader.close();
    // Still paused: the tunnel's pipe resumes it, so no byte is read before it listens.
  }

  #onClose(): void {
    this.#closed = true;
    this.#clock.delete(this);
    this.#reader.close();
    const entries = this.#active === undefined ? this.#queue : [this.#active, ...this.#queue];
    this.#active = undefined;
    this.#queue.length = 0;
    for (const entry of entries) {
      entry.req.closed();
      entry.res.closed();
    }
    const reading = this.#reader.current;
    if (reading !== undefined && !entries.some((entry) => entry.req === reading)) reading.closed();
  }
}

/** `Expect: 100-continue` (the only expectation there is; others are dropped, as nginx does). */
function expectsContinue(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 6 && name.toLowerCase() === 'expect') {
      return (raw[i + 1] as string).trim().toLowerCase() === '100-continue';
    }
  }
  return false;
}

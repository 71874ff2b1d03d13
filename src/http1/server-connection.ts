import type { Socket } from 'node:net';
import type { ConnectionClock, Ticking } from './connection-clock.ts';
import { IncomingRequest } from './incoming-request.ts';
import type { BodyFlow } from './incoming-request.ts';
import { OutgoingResponse } from './outgoing-response.ts';
import type { ResponseOwner } from './outgoing-response.ts';
import { countedLength } from './framing.ts';
import {
  METHODS,
  releaseParser,
  REQUEST,
  resetParser,
  STOP_AT_UPGRADE,
  takeParser,
} from './parser.ts';
import type { ParseError, Parser, ParserCallbacks } from './parser.ts';
import { refusalBytes, refusalOf } from './refusals.ts';
import type { Refusal } from './refusals.ts';

/** What the connection hands its requests to. */
export interface ServerHooks {
  request(req: IncomingRequest, res: OutgoingResponse): void;
  /** A WebSocket handshake: the socket (and what followed the head) are the caller's now. */
  upgrade(req: IncomingRequest, socket: Socket, head: Buffer): void;
  /** Whether an upgrade request is one this proxy upgrades; any other is served plainly. */
  upgrades(req: IncomingRequest): boolean;
  draining(): boolean;
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

interface Entry {
  readonly req: IncomingRequest;
  readonly res: OutgoingResponse;
  /** A WebSocket handshake: handed over when its turn comes. */
  head?: Buffer;
}

/**
 * One client connection speaking HTTP/1.1, on Node's llhttp binding, strict. Requests are
 * answered one at a time and in order, as nginx does: pipelined ones wait their turn (running
 * them side by side upstream only multiplies upstream connections), and once HOLD_AT wait the
 * socket is not read until READ_AGAIN_AT remain, so what is parsed ahead is bounded by one
 * read. Requests are handed on only after a whole read has been parsed, so a request whose
 * body is broken within that read never reaches an upstream. Every complete request before
 * bytes that do not parse is answered, in order; then the refusal, and the connection closes.
 */
export class ServerConnection implements BodyFlow, ResponseOwner, Ticking {
  readonly socket: Socket;
  readonly #hooks: ServerHooks;
  readonly #timeouts: ConnectionTimeouts;
  readonly #clock: ConnectionClock;
  readonly #callbacks: ParserCallbacks;
  /** Held while requests are read; an idle keep-alive connection gives it back (parser.ts). */
  #parser: Parser | undefined;
  readonly #queue: Entry[] = [];
  #active: Entry | undefined;
  /** The request being parsed (head or body), until its message completes. */
  #current: Entry | undefined;
  #headersPending: string[] | undefined;
  #urlPending = '';
  /** When the request being read began (or the connection, or the last response ended). */
  #since: number;
  #headDone = true;
  #bytesSeen = false;
  #upgrade: Entry | undefined;
  /** The request whose Content-Length body is being counted, and what is left of it. */
  #counting: Entry | undefined;
  #remaining = 0;
  /** No more requests are parsed (a refusal, a close asked for, an upgrade, the peer's end). */
  #stopped = false;
  #refusal: Refusal | undefined;
  #held = false;
  #bodyHeld = false;
  #pumping = false;
  #closed = false;

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
    this.#callbacks = {
      onHeaders: (headers, url) => {
        this.#headersPending = (this.#headersPending ?? []).concat(headers);
        this.#urlPending += url;
      },
      onHeadersComplete: (major, minor, headers, method, url, _s, _m, upgrade, keepAlive) =>
        this.#onHead(major, minor, headers, method ?? -1, url, upgrade, keepAlive),
      onBody: (chunk) => this.#current?.req.push(chunk),
      onMessageComplete: () => this.#onComplete(),
    };
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onPeerEnd());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#onClose());
    clock.add(this);
  }

  /** Nothing in flight or waiting: shutdown may close it now. */
  get idle(): boolean {
    return this.#active === undefined && this.#queue.length === 0 && this.#headDone;
  }

  draining(): boolean {
    return this.#hooks.draining();
  }

  /** Shutdown: close now if idle; otherwise after the response in flight. */
  closeIfIdle(): void {
    if (this.idle && (this.#current === undefined || this.#current.req.complete)) {
      this.socket.destroy();
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#bytesSeen = true;
    let rest: Buffer | undefined = chunk;
    while (rest !== undefined && rest.length > 0 && !this.#stopped) {
      if (this.#counting !== undefined) {
        rest = this.#countBody(rest);
        continue;
      }
      const result = this.#takeParser().execute(rest);
      if (typeof result !== 'number') {
        this.#parseFailed(result);
        break;
      }
      if (this.#upgrade !== undefined) rest = this.#afterUpgradeHead(rest.subarray(result));
      else rest = this.#counting !== undefined ? rest.subarray(result) : undefined;
    }
    // Nothing half read: the parser goes back to the spares until the next request, so a
    // keep-alive connection costs no parser between requests (0.16 µs to take one again).
    if (this.#atBoundary || this.#stopped) this.#releaseParser();
    this.#pump();
  }

  /**
   * Body bytes of a request counted by its Content-Length (the parser stopped after its head):
   * handed on as views of the bytes read, no copy. Returns what follows the body.
   */
  #countBody(bytes: Buffer): Buffer | undefined {
    const entry = this.#counting as Entry;
    const take = Math.min(bytes.length, this.#remaining);
    this.#remaining -= take;
    if (take > 0) entry.req.push(take === bytes.length ? bytes : bytes.subarray(0, take));
    if (this.#remaining > 0) return undefined;
    this.#counting = undefined;
    if (this.#current === entry) this.#current = undefined;
    entry.req.finish();
    // Bytes after a request that asked to close are never read (as llhttp refuses them).
    if (!entry.req.keepAlive) {
      this.#stop();
      return undefined;
    }
    resetParser(this.#takeParser(), REQUEST);
    return take < bytes.length ? bytes.subarray(take) : undefined;
  }

  #onHead(
    major: number,
    minor: number,
    headers: string[] | undefined,
    method: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    const rawHeaders =
      this.#headersPending === undefined
        ? (headers ?? [])
        : this.#headersPending.concat(headers ?? []);
    const target = url ?? this.#urlPending;
    this.#headersPending = undefined;
    this.#urlPending = '';
    this.#headDone = true;
    const req = new IncomingRequest(
      this.socket,
      this,
      METHODS[method] ?? '',
      target,
      rawHeaders,
      major,
      minor,
      keepAlive && !upgrade,
    );
    const entry: Entry = { req, res: new OutgoingResponse(req, this) };
    this.#current = entry;
    this.#queue.push(entry);
    if (upgrade) {
      this.#upgrade = entry;
      return 0;
    }
    const length = countedLength(rawHeaders);
    if (length <= 0) return 0;
    // A body of known length is counted here, not parsed: the parser stops after the head.
    this.#counting = entry;
    this.#remaining = length;
    return STOP_AT_UPGRADE;
  }

  #onComplete(): void {
    // The head of a counted request completes in the parser; its body has not arrived yet.
    if (this.#counting !== undefined && this.#counting === this.#current) return;
    const current = this.#current;
    this.#current = undefined;
    current?.req.finish();
    // Bytes after a request that asked to close are never read (llhttp would refuse them, but
    // its parser is given back between requests and forgets).
    if (current !== undefined && !current.req.keepAlive && this.#upgrade !== current) this.#stop();
  }

  #takeParser(): Parser {
    if (this.#parser !== undefined) return this.#parser;
    const parser = takeParser(REQUEST, this.#callbacks);
    parser[0] = () => {
      this.#since = performance.now();
      this.#headDone = false;
    };
    this.#parser = parser;
    return parser;
  }

  #releaseParser(): void {
    if (this.#parser === undefined) return;
    releaseParser(this.#parser);
    this.#parser = undefined;
  }

  /** Between two messages: no head or body half read, so a fresh parser may take over. */
  get #atBoundary(): boolean {
    return (
      this.#headDone &&
      this.#current === undefined &&
      this.#counting === undefined &&
      this.#upgrade === undefined
    );
  }

  /**
   * llhttp stops after a request that asks to upgrade (or CONNECT). A WebSocket handshake is
   * handed over in its turn with the bytes that followed; any other is served as a plain
   * request (its body already parsed) and parsing goes on with a fresh parser state.
   */
  #afterUpgradeHead(rest: Buffer): Buffer | undefined {
    const entry = this.#upgrade as Entry;
    this.#upgrade = undefined;
    if (entry.req.method !== 'CONNECT' && this.#hooks.upgrades(entry.req)) {
      entry.head = rest;
      this.#stop();
      return undefined;
    }
    if (entry.req.method === 'CONNECT') {
      // What follows a CONNECT is the tunnel it asked for, never another request: refuse and close.
      entry.res.setHeader('connection', 'close');
      this.#stop();
      return undefined;
    }
    resetParser(this.#takeParser(), REQUEST);
    return rest;
  }

  #parseFailed(err: ParseError): void {
    // Bytes after a request that said Connection: close (or HTTP/1.0 without keep-alive) are
    // never read: that request is answered, then the connection closes. Not a refusal.
    if (err.code === 'HPE_CLOSED_CONNECTION') return this.#stop();
    const broken = this.#current;
    this.#current = undefined;
    this.#refuse(refusalOf(err.code));
    if (broken === undefined) return;
    // A request whose body does not frame: its reader hears it failed (an exchange then gives
    // up without blaming the upstream); if it had not started yet, it never will.
    const at = this.#queue.indexOf(broken);
    if (at !== -1) this.#queue.splice(at, 1);
    broken.req.fail(new Error(`request body does not parse: ${err.code}`));
    if (this.#active === broken) this.#abandonActive();
  }

  /** The active request broke or timed out: its answer is the refusal, or the cut. */
  #abandonActive(): void {
    const active = this.#active as Entry;
    this.#active = undefined;
    active.res.closed();
    if (active.res.headersSent) this.socket.destroy();
    else this.#pump();
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

  /** Nothing left to answer on a stopped connection: the refusal, if any, then close. */
  #finishStopped(): void {
    if (this.#current !== undefined && !this.#current.req.complete) return;
    const refusal = this.#refusal;
    if (refusal !== undefined && this.#bytesSeen) this.socket.end(refusalBytes(refusal));
    else this.socket.end();
    this.#closed = true;
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
    const { headerMs, requestMs, keepAliveMs } = this.#timeouts;
    const elapsed = now - this.#since;
    if (!this.#bytesSeen) {
      // A connection that never sent a byte gets the header timeout, then closes in silence.
      if (elapsed >= headerMs) this.socket.destroy();
      return;
    }
    if (!this.#headDone) {
      if (elapsed >= headerMs) this.#timedOut();
      return;
    }
    const current = this.#current;
    if (current !== undefined && !current.req.complete) {
      if (requestMs > 0 && elapsed >= requestMs) this.#timedOut();
      return;
    }
    if (this.idle && elapsed >= keepAliveMs) this.socket.destroy();
  }

  /** Headers or the whole request took too long: 408 in its turn, then close. */
  #timedOut(): void {
    const current = this.#current;
    this.#current = undefined;
    this.#counting = undefined;
    this.#headDone = true;
    this.#bytesSeen = true;
    this.#refuse('request_timeout');
    if (current !== undefined) {
      const at = this.#queue.indexOf(current);
      if (at !== -1) this.#queue.splice(at, 1);
      current.req.fail(new Error('request timeout'));
      if (this.#active === current) return this.#abandonActive();
    }
    this.#pump();
  }

  /** The client half-closed: what it sent is answered, then the connection ends. */
  #onPeerEnd(): void {
    if (this.#stopped) return;
    if (this.#counting !== undefined) return void this.socket.destroy(); // a body cut short
    const result = this.#parser?.finish();
    if (result !== undefined && this.#current !== undefined) {
      return void this.socket.destroy();
    }
    this.#stop();
    this.#pump();
  }

  /** An upgrade took the socket: this connection lets go of it. */
  #detach(): void {
    this.#closed = true;
    this.#clock.delete(this);
    const socket = this.socket;
    socket.removeAllListeners('data');
    socket.removeAllListeners('end');
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    this.#releaseParser();
    // Still paused: the tunnel's pipe resumes it, so no byte is read before it listens.
  }

  #onClose(): void {
    this.#closed = true;
    this.#clock.delete(this);
    this.#releaseParser();
    const entries = this.#active === undefined ? this.#queue : [this.#active, ...this.#queue];
    this.#active = undefined;
    this.#queue.length = 0;
    for (const entry of entries) {
      entry.req.closed();
      entry.res.closed();
    }
    if (this.#current !== undefined && !entries.includes(this.#current)) {
      this.#current.req.closed();
    }
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

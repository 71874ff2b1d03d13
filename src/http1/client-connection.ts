import type { Socket } from 'node:net';
import { COUNT_FROM_BYTES, countedLength } from './framing.ts';
import {
  releaseParser,
  resetParser,
  RESPONSE,
  SKIP_BODY,
  STOP_AT_UPGRADE,
  takeParser,
} from './parser.ts';
import type { ParseError, Parser } from './parser.ts';
import { UpstreamError, upstreamErrorOf } from './upstream-error.ts';

/** What one exchange on an upstream connection is told, in order. */
export interface ResponseHandler {
  /** An interim response (1xx but 101): the final one follows. */
  onInterim(status: number, headers: string[]): void;
  /** The final response's head. `headers` is the flat [name, value, ...] list as received. */
  onHead(status: number, headers: string[]): void;
  /** A piece of the (de-chunked) body. Slow the upstream down with pause()/resume(). */
  onData(chunk: Buffer): void;
  onEnd(): void;
  /** A 101 to an upgrade request: the socket, and what followed the head, belong to the caller. */
  onUpgrade(status: number, headers: string[], socket: Socket, head: Buffer): void;
  /** The exchange failed; nothing more is said. Never called after onEnd or onUpgrade. */
  onError(err: UpstreamError): void;
}

/** How one request is sent: its body's framing, and what the response may carry. */
export interface RequestPlan {
  /** `none`: no body; `length`: the head has Content-Length; `chunked`: the body is re-chunked. */
  readonly body: 'none' | 'length' | 'chunked';
  /** False for HEAD: the response has no body whatever its headers say. */
  readonly expectBody: boolean;
  readonly upgrade: boolean;
  /** Silence allowed before the response head (timeouts.response_ms). */
  readonly responseMs: number;
  /** Silence allowed between two pieces of the response body (timeouts.idle_ms). */
  readonly idleMs: number;
}

/** What the pool hears from its connections. */
export interface ConnectionOwner {
  /** The exchange ended and the connection may carry another. */
  released(connection: ClientConnection): void;
  /** The connection is gone (closed, failed, upgraded away): forget it. */
  closed(connection: ClientConnection): void;
}

type State = 'idle' | 'waiting' | 'body' | 'done';

/**
 * One keep-alive HTTP/1.1 connection to an upstream, one exchange at a time (never pipelined:
 * an upstream that answers out of turn or closes between pipelined requests leaves no way to
 * know which request it saw). The response is read with Node's llhttp binding, strict; what
 * the upstream sends that does not frame is a protocol failure for the exchange, and the
 * connection is never used again. Timeouts ride on the socket's own idle timer: the response
 * timeout until the head, the idle timeout between body pieces, the pool's idle timeout while
 * it waits for the next request.
 */
export class ClientConnection {
  readonly socket: Socket;
  readonly origin: string;
  /** performance.now() when it last fell idle: the pool rotates to the one idle longest. */
  idleSince = 0;
  /** Requests sent on it, the current one included. */
  requests = 0;
  #owner: ConnectionOwner;
  #parser: Parser;
  #parserReleased = false;
  #handler: ResponseHandler | undefined;
  #plan: RequestPlan | undefined;
  #state: State = 'idle';
  /** The request's body is not all written yet: the connection cannot be reused before. */
  #sending = false;
  #keepAlive = false;
  #reusable = true;
  #gotBytes = false;
  #pending: string[] | undefined;
  #upgradeTo: { status: number; headers: string[] } | undefined;
  #idleTimeoutMs: number;
  /** Body bytes still to come of a response counted by its Content-Length. */
  #remaining = 0;
  #counting = false;
  /** A response completed in the read being parsed: any message after it is unsolicited. */
  #completedInRead = false;
  /** Handed over by an upgrade: its events are the new owner's. */
  #detached = false;

  constructor(socket: Socket, origin: string, owner: ConnectionOwner, idleTimeoutMs: number) {
    this.socket = socket;
    this.origin = origin;
    this.#owner = owner;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#parser = takeParser(RESPONSE, {
      onHeaders: (headers) => (this.#pending = (this.#pending ?? []).concat(headers)),
      // Headers that spanned reads came through onHeaders; the list here is then undefined.
      onHeadersComplete: (_maj, _min, headers, _m, _u, status, _msg, upgrade, keepAlive) =>
        this.#onHead(joinHeaders(this.#pending, headers), status ?? 0, upgrade, keepAlive),
      onBody: (chunk) => this.#handler?.onData(chunk),
      onMessageComplete: () => this.#onComplete(),
    });
    // A message that begins with no request waiting for it is unsolicited: never reuse this
    // connection. Bytes after a response in the same read are, even when the connection was
    // already handed to the next request: they must never pass for its answer.
    this.#parser[0] = () => {
      if (this.#completedInRead && this.#state !== 'idle') {
        this.#protocolError('upstream sent more than its response');
      }
      if (this.#state === 'idle' || this.#state === 'done' || this.#completedInRead) {
        this.#reusable = false;
      }
    };
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => this.#fail(upstreamErrorOf(err)));
    socket.on('close', () => {
      if (!this.#detached) this.#onClose();
    });
    socket.on('timeout', () => this.#onTimeout());
    socket.setTimeout(idleTimeoutMs);
  }

  /** True while it may take a request: open, idle, nothing unexpected seen. */
  get usable(): boolean {
    return (
      this.#state === 'idle' && this.#reusable && !this.socket.destroyed && this.socket.readable
    );
  }

  /** Sends a request head (request line and headers, ending in an empty line). */
  send(head: string, plan: RequestPlan, handler: ResponseHandler): void {
    this.#handler = handler;
    this.#plan = plan;
    this.#state = 'waiting';
    this.#sending = plan.body !== 'none';
    this.#gotBytes = false;
    this.#pending = undefined;
    this.requests++;
    this.socket.setTimeout(plan.responseMs);
    this.socket.write(head, 'latin1');
  }

  /** A piece of the request body; false when the socket's buffer is full (wait for 'drain'). */
  writeBody(chunk: Buffer): boolean {
    if (this.#plan?.body !== 'chunked') return this.socket.write(chunk);
    if (chunk.length === 0) return true;
    this.socket.cork();
    this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    this.socket.write(chunk);
    const more = this.socket.write('\r\n', 'latin1');
    this.socket.uncork();
    return more;
  }

  endBody(): void {
    if (this.#plan?.body === 'chunked') this.socket.write('0\r\n\r\n', 'latin1');
    this.#sending = false;
    if (this.#state === 'done') this.#finish();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** The exchange gives up (its client left, or it failed elsewhere): nothing more is reported. */
  abort(): void {
    this.#handler = undefined;
    this.socket.destroy();
  }

  /** Closes an idle connection (shutdown, idle timeout). */
  close(): void {
    this.socket.destroy();
  }

  #onHead(headers: string[], status: number, upgrade: boolean, keepAlive: boolean): number {
    this.#pending = undefined;
    const handler = this.#handler;
    if (handler === undefined) return 0;
    if (status === 101) {
      if (this.#plan?.upgrade !== true || !upgrade) {
        this.#protocolError(`upstream answered 101 to a request that asked for no upgrade`);
        return 0;
      }
      this.#upgradeTo = { status, headers };
      return STOP_AT_UPGRADE;
    }
    if (status < 100 || status > 599) {
      this.#protocolError(`upstream answered with status ${status}`);
      return 0;
    }
    if (status < 200) {
      handler.onInterim(status, headers);
      return 0;
    }
    this.#keepAlive = keepAlive;
    this.#state = 'body';
    this.socket.setTimeout(this.#plan?.idleMs ?? 0);
    handler.onHead(status, headers);
    if (this.#plan?.expectBody === false || status === 204 || status === 304) return SKIP_BODY;
    const length = countedLength(headers);
    if (length < COUNT_FROM_BYTES) return 0;
    // A body of known length is counted here, not parsed: the parser stops after the head
    // and the body leaves as views of the bytes read, with no copy per piece.
    this.#remaining = length;
    this.#counting = true;
    return STOP_AT_UPGRADE;
  }

  /** Body bytes of a counted response; what lies past its end makes the connection unusable. */
  #countBody(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const take = Math.min(bytes.length, this.#remaining);
    this.#remaining -= take;
    if (take < bytes.length) this.#reusable = false;
    this.#handler?.onData(take === bytes.length ? bytes : bytes.subarray(0, take));
    if (this.#remaining > 0 || !this.#counting) return;
    this.#counting = false;
    resetParser(this.#parser, RESPONSE);
    this.#onComplete();
  }

  #onComplete(): void {
    // An interim response completes too, and so does the head of a counted one: only the end
    // of the final response ends the exchange.
    if (this.#state !== 'body' || this.#counting) return;
    this.#state = 'done';
    this.#completedInRead = true;
    const handler = this.#handler;
    this.#handler = undefined;
    // Back to the pool before the exchange hears of the end: the next request of the same
    // client (pipelined, or in a loop) then finds this connection idle instead of opening one.
    if (!this.#sending) this.#finish();
    handler?.onEnd();
  }

  /** Both directions are over: back to the pool, or closed. */
  #finish(): void {
    if (this.#state !== 'done') return;
    this.#state = 'idle';
    this.#plan = undefined;
    if (!this.#keepAlive || !this.#reusable || this.socket.destroyed) {
      this.socket.destroy();
      return;
    }
    this.idleSince = performance.now();
    this.socket.setTimeout(this.#idleTimeoutMs);
    // The last exchange may have paused it for a slow client: idle, it must see the upstream
    // close, and the next exchange must see its answer.
    if (this.socket.isPaused()) this.socket.resume();
    this.#owner.released(this);
  }

  #onData(chunk: Buffer): void {
    this.#gotBytes = true;
    if (this.#state === 'idle' || this.#state === 'done') {
      // Bytes with no request waiting for them: the upstream is out of step.
      this.#reusable = false;
      if (this.#state === 'idle') return void this.socket.destroy();
    }
    if (this.#counting) return this.#countBody(chunk);
    this.#completedInRead = false;
    const result = this.#parser.execute(chunk);
    this.#completedInRead = false;
    if (typeof result !== 'number') return this.#parseFailed(result);
    const upgrade = this.#upgradeTo;
    if (upgrade !== undefined) this.#handOver(upgrade, chunk.subarray(result));
    else if (this.#counting) this.#countBody(chunk.subarray(result));
  }

  #handOver(upgrade: { status: number; headers: string[] }, head: Buffer): void {
    const handler = this.#handler;
    this.#handler = undefined;
    this.#state = 'done';
    this.#reusable = false;
    const socket = this.socket;
    socket.removeAllListeners('data');
    socket.removeAllListeners('end');
    socket.removeAllListeners('timeout');
    socket.removeAllListeners('error');
    socket.setTimeout(0);
    this.#detached = true;
    this.#releaseParser();
    this.#owner.closed(this);
    handler?.onUpgrade(upgrade.status, upgrade.headers, socket, head);
  }

  #parseFailed(err: ParseError): void {
    if (this.#state === 'idle' || this.#state === 'done') {
      // Garbage after a complete response: that response stands; the connection does not.
      this.#reusable = false;
      if (this.#state === 'idle') this.socket.destroy();
      return;
    }
    this.#protocolError(`upstream response did not parse: ${err.reason ?? err.code}`, err.code);
  }

  #protocolError(message: string, code = 'ERR_UPSTREAM_PROTOCOL'): void {
    this.#fail(new UpstreamError('protocol', message, code));
  }

  #onEnd(): void {
    // A response delimited by the close ends here (llhttp completes it in finish()).
    if (this.#state === 'body') {
      const result = this.#parser.finish();
      if (result !== undefined) {
        return this.#fail(new UpstreamError('reset', 'upstream closed mid-response', result.code));
      }
    }
    if (this.#state === 'waiting' || this.#state === 'body') {
      return this.#fail(
        new UpstreamError(
          'reset',
          'upstream closed the connection mid-exchange',
          'ERR_UPSTREAM_CLOSED',
        ),
      );
    }
    this.socket.destroy();
  }

  #onTimeout(): void {
    const state = this.#state;
    if (state === 'waiting' || state === 'body') {
      const phase = state === 'waiting' ? 'no response head' : 'response body idle';
      return this.#fail(
        new UpstreamError('timeout', `upstream timeout: ${phase}`, 'ERR_UPSTREAM_TIMEOUT'),
      );
    }
    this.socket.destroy();
  }

  #fail(err: UpstreamError): void {
    const handler = this.#handler;
    this.#handler = undefined;
    this.#reusable = false;
    this.socket.destroy();
    handler?.onError(err);
  }

  #releaseParser(): void {
    if (this.#parserReleased) return;
    this.#parserReleased = true;
    releaseParser(this.#parser);
  }

  #onClose(): void {
    this.#releaseParser();
    const handler = this.#handler;
    this.#handler = undefined;
    this.#owner.closed(this);
    if (handler !== undefined) {
      handler.onError(
        new UpstreamError('reset', 'upstream connection closed', 'ERR_UPSTREAM_CLOSED'),
      );
    }
  }

  /** True when nothing of a response arrived yet: a reused connection that failed now was stale. */
  get answeredNothing(): boolean {
    return !this.#gotBytes;
  }
}

function joinHeaders(pending: string[] | undefined, last: string[] | undefined): string[] {
  if (pending === undefined) return last ?? [];
  return last === undefined ? pending : pending.concat(last);
}

import type { Socket } from 'node:net';

/** What a request tells the connection it came on: read on, or hold off. */
export interface BodyFlow {
  /** The reader wants no more for now: stop reading the socket. */
  holdBody(): void;
  /** The reader is ready again. */
  readBody(): void;
  /** The reader gave up on the request: cut the connection. */
  destroy(): void;
}

type Listener<T> = (value: T) => void;

/**
 * One HTTP/1.1 request as the server connection parsed it: its head, and its body as it
 * arrives (de-chunked by the parser). The body is buffered only until a reader resumes it, and
 * a reader that pauses stops the connection reading its socket, so what is held is one read at
 * most. Events are plain listener lists: no EventEmitter per request.
 */
export class IncomingRequest {
  readonly method: string;
  url: string;
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  /** The client may send another request on this connection (llhttp's verdict). */
  readonly keepAlive: boolean;
  /** The whole body has arrived. */
  complete = false;
  /** Body bytes received and not yet handed to a reader. */
  readableLength = 0;
  #flow: BodyFlow;
  #buffered: Buffer[] | undefined;
  #flowing = false;
  #ended = false;
  #failed = false;
  #onData: Listener<Buffer>[] | undefined;
  #onEnd: Listener<void>[] | undefined;
  #onError: Listener<Error>[] | undefined;
  #onClose: Listener<void>[] | undefined;

  constructor(
    socket: Socket,
    flow: BodyFlow,
    method: string,
    url: string,
    rawHeaders: string[],
    versionMajor: number,
    versionMinor: number,
    keepAlive: boolean,
  ) {
    this.socket = socket;
    this.#flow = flow;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.httpVersionMajor = versionMajor;
    this.httpVersionMinor = versionMinor;
    this.keepAlive = keepAlive;
  }

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: string, listener: Listener<never>): this {
    if (event === 'data') (this.#onData ??= []).push(listener as Listener<Buffer>);
    else if (event === 'end') (this.#onEnd ??= []).push(listener as Listener<void>);
    else if (event === 'error') (this.#onError ??= []).push(listener as Listener<Error>);
    else if (event === 'close') (this.#onClose ??= []).push(listener as Listener<void>);
    return this;
  }

  /** Starts (or restarts) delivering the body to the 'data' listeners. */
  resume(): this {
    this.#flowing = true;
    const buffered = this.#buffered;
    if (buffered !== undefined) {
      this.#buffered = undefined;
      for (const chunk of buffered) {
        this.readableLength -= chunk.length;
        this.#emitData(chunk);
        if (!this.#flowing) {
          // Paused again by a listener: keep the rest for the next resume.
          const at = buffered.indexOf(chunk) + 1;
          if (at < buffered.length) this.#buffered = buffered.slice(at);
          return this;
        }
      }
    }
    if (this.complete) this.#end();
    else this.#flow.readBody();
    return this;
  }

  pause(): this {
    this.#flowing = false;
    this.#flow.holdBody();
    return this;
  }

  destroy(): this {
    this.#flow.destroy();
    return this;
  }

  /** A piece of body from the parser. */
  push(chunk: Buffer): void {
    if (this.#flowing && this.#buffered === undefined) return this.#emitData(chunk);
    (this.#buffered ??= []).push(chunk);
    this.readableLength += chunk.length;
  }

  /** The parser saw the end of the message. */
  finish(): void {
    this.complete = true;
    if (this.#flowing && this.#buffered === undefined) this.#end();
  }

  /** The body cannot complete (a framing error, the connection closed): readers hear once. */
  fail(err: Error): void {
    if (this.#ended || this.#failed) return;
    this.#failed = true;
    for (const listener of this.#onError ?? []) listener(err);
    this.#close();
  }

  /** The connection closed: readers that still wait hear it as an error. */
  closed(): void {
    if (!this.complete) this.fail(new Error('client closed the connection mid-request'));
    else this.#close();
  }

  #emitData(chunk: Buffer): void {
    const listeners = this.#onData;
    if (listeners === undefined) return;
    for (const listener of listeners) listener(chunk);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const listener of this.#onEnd ?? []) listener();
  }

  #close(): void {
    const listeners = this.#onClose;
    this.#onClose = undefined;
    for (const listener of listeners ?? []) listener();
  }
}

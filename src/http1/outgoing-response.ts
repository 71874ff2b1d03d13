import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { httpDate } from './http-date.ts';
import type { IncomingRequest } from './incoming-request.ts';

/** What a response tells the connection it is written on. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** Responses should ask the client to close (shutdown has begun). */
  draining(): boolean;
  /** The response has been handed to the socket in full; `keepAlive` false: close after it. */
  responseDone(res: OutgoingResponse, keepAlive: boolean): void;
}

type HeaderValue = string | string[] | number | undefined;
type Framing = 'none' | 'length' | 'chunked' | 'close';

const REASONS: Record<number, string | undefined> = STATUS_CODES;

/**
 * One response on an HTTP/1.1 connection, framed by this hop: the upstream's Content-Length
 * passed through, chunked only when there is no length, delimited by the close for an HTTP/1.0
 * client; no body at all for HEAD, 1xx, 204 and 304. Transfer-Encoding and Connection from the
 * caller's headers are ignored: framing and persistence are this connection's to say. The
 * head waits for the first piece of body so that both leave in one write.
 */
export class OutgoingResponse {
  readonly req: IncomingRequest;
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  #owner: ResponseOwner;
  #extra: [string, string][] | undefined;
  #framing: Framing = 'none';
  #head: string | undefined;
  #keepAlive = true;
  #finished = false;
  #closed = false;
  #onClose: (() => void)[] | undefined;

  constructor(req: IncomingRequest, owner: ResponseOwner) {
    this.req = req;
    this.#owner = owner;
  }

  get destroyed(): boolean {
    return this.#closed || this.#owner.socket.destroyed;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** A header added to the head writeHead builds (`connection: close` asks for the close). */
  setHeader(name: string, value: string): this {
    if (name.toLowerCase() === 'connection' && /\bclose\b/i.test(value)) this.#keepAlive = false;
    else (this.#extra ??= []).push([name, value]);
    return this;
  }

  writeHead(status: number, headers: Record<string, HeaderValue>): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    this.statusCode = status;
    const req = this.req;
    const bodyless = req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\n`;
    let length = false;
    let date = false;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding' || lower === 'connection') continue;
      if (lower === 'content-length') {
        if (status === 204 || status < 200) continue;
        length = true;
      } else if (lower === 'date') date = true;
      if (Array.isArray(value)) for (const one of value) head += `${name}: ${one}\r\n`;
      else head += `${name}: ${value}\r\n`;
    }
    for (const [name, value] of this.#extra ?? []) head += `${name}: ${value}\r\n`;
    if (!date) head += `date: ${httpDate()}\r\n`;
    if (bodyless) this.#framing = 'none';
    else if (length) this.#framing = 'length';
    else if (req.httpVersionMinor >= 1) {
      this.#framing = 'chunked';
      head += 'transfer-encoding: chunked\r\n';
    } else this.#framing = 'close';
    const keepAlive =
      this.#keepAlive && req.keepAlive && this.#framing !== 'close' && !this.#owner.draining();
    this.#keepAlive = keepAlive;
    if (!keepAlive) head += 'connection: close\r\n';
    else if (req.httpVersionMinor === 0) head += 'connection: keep-alive\r\n';
    this.#head = `${head}\r\n`;
    return this;
  }

  /** An interim `103 Early Hints` before the final response (HTTP/1.1 clients only). */
  writeEarlyHints(hints: Record<string, string | string[]>): void {
    if (this.headersSent || this.req.httpVersionMinor < 1) return;
    let head = 'HTTP/1.1 103 Early Hints\r\n';
    for (const [name, value] of Object.entries(hints)) {
      for (const one of Array.isArray(value) ? value : [value]) head += `${name}: ${one}\r\n`;
    }
    this.#owner.socket.write(`${head}\r\n`, 'latin1');
  }

  /** A piece of body; false when the socket's buffer is full ('drain' says when to go on). */
  write(chunk: Buffer): boolean {
    if (!this.headersSent) this.writeHead(this.statusCode, {});
    const socket = this.#owner.socket;
    if (this.#finished || socket.destroyed) return false;
    const head = this.#head;
    if (this.#framing === 'none') {
      if (head !== undefined) this.#flushHead(socket, head);
      return true;
    }
    if (chunk.length === 0) return true;
    socket.cork();
    if (head !== undefined) {
      this.#head = undefined;
      socket.write(head, 'latin1');
    }
    if (this.#framing === 'chunked') socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    let more = socket.write(chunk);
    if (this.#framing === 'chunked') more = socket.write('\r\n', 'latin1');
    socket.uncork();
    return more;
  }

  end(chunk?: Buffer): this {
    if (this.#finished) return this;
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    if (!this.headersSent) this.writeHead(this.statusCode, {});
    this.#finished = true;
    const socket = this.#owner.socket;
    if (!socket.destroyed) {
      const head = this.#head;
      this.#head = undefined;
      if (this.#framing === 'chunked') {
        socket.write(head === undefined ? '0\r\n\r\n' : `${head}0\r\n\r\n`, 'latin1');
      } else if (head !== undefined) {
        socket.write(head, 'latin1');
      }
    }
    this.#owner.responseDone(this, this.#keepAlive);
    return this;
  }

  #flushHead(socket: Socket, head: string): void {
    this.#head = undefined;
    socket.write(head, 'latin1');
  }

  /** Cuts the connection: what was sent cannot be framed as a whole response any more. */
  destroy(): this {
    this.#owner.socket.destroy();
    return this;
  }

  once(event: 'drain' | 'close' | 'finish', listener: () => void): this {
    if (event === 'drain') this.#owner.socket.once('drain', listener);
    else if (event === 'close') (this.#onClose ??= []).push(listener);
    return this;
  }

  on(event: 'close', listener: () => void): this {
    return this.once(event, listener);
  }

  /** Over: sent in full, or its connection closed first. Listeners hear it once. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    const listeners = this.#onClose;
    this.#onClose = undefined;
    for (const listener of listeners ?? []) listener();
  }
}

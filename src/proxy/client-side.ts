import type { Socket } from 'node:net';

/**
 * The client's request as the request path reads it: what node:http's IncomingMessage,
 * node:http2's compatibility request and this proxy's own HTTP/1.1 request (http1/) all give.
 */
export interface ClientRequest {
  readonly method?: string | undefined;
  /** Path and query; the guard writes a normalised path back. */
  url?: string | undefined;
  /** [name, value, ...] as received (HTTP/2: pseudo-headers included). */
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  readonly complete: boolean;
  readonly readableLength: number;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  pause(): this;
  resume(): this;
  destroy(err?: Error): this;
}

/** The response the request path writes, whichever server the request came from. */
export interface ClientResponse {
  statusCode: number;
  statusMessage: string;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly req: ClientRequest;
  writeHead(status: number, headers: Record<string, string | string[] | number | undefined>): this;
  writeEarlyHints(hints: Record<string, string | string[]>): void;
  setHeader(name: string, value: string): this;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): this;
  destroy(): this;
  once(event: 'drain' | 'close' | 'finish', listener: () => void): this;
  on(event: 'close', listener: () => void): this;
}

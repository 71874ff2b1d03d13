import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** One request as a recording upstream framed it from the bytes it received. */
export interface RecordedRequest {
  readonly connection: number;
  readonly method: string;
  readonly target: string;
  /** Header lines as received, names lower-cased, in order (duplicates kept). */
  readonly headers: readonly [string, string][];
  readonly body: Buffer;
  header(name: string): string | undefined;
}

/** What the upstream answers to the nth request on a connection: raw bytes, or nothing. */
export type RawResponder = (request: RecordedRequest, index: number) => string | Buffer | null;

export interface RecordingUpstream {
  readonly url: string;
  readonly port: number;
  /** Every byte received on one connection (numbered from 0), in arrival order. */
  readonly received: (connection: number) => Buffer;
  readonly requests: RecordedRequest[];
  /** Connections accepted so far, and how many are open now. */
  readonly accepted: () => number;
  readonly open: () => number;
  /** The most connections that were open at once. */
  readonly peakOpen: () => number;
  close(): Promise<void>;
}

export const ok = (body = 'ok') =>
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/**
 * A raw TCP upstream that keeps every byte it is sent and frames requests itself (Content-Length
 * or chunked), so a test asserts what really crossed the wire, not what a library made of it.
 * By default it answers each request `200 ok` on the same connection.
 */
export async function startRecordingUpstream(
  respond: RawResponder = () => ok(),
): Promise<RecordingUpstream> {
  // Chunks, joined only when asked: a connection may carry tens of thousands of requests.
  const received: Buffer[][] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let peak = 0;
  const server = net.createServer((socket) => {
    const connection = accepted++;
    sockets.add(socket);
    peak = Math.max(peak, sockets.size);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const chunks: Buffer[] = (received[connection] = []);
    let pending: Buffer = Buffer.alloc(0);
    let index = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const framed = frameRequest(pending, connection);
        if (framed === undefined) break;
        pending = pending.subarray(framed.length);
        requests.push(framed.request);
        const answer = respond(framed.request, index++);
        if (answer !== null && socket.writable) socket.write(answer);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received: (connection) => Buffer.concat(received[connection] ?? []),
    requests,
    accepted: () => accepted,
    open: () => sockets.size,
    peakOpen: () => peak,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function frameRequest(
  buf: Buffer,
  connection: number,
): { request: RecordedRequest; length: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const [method = '', target = ''] = (lines.shift() ?? '').split(' ');
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const header = (name: string) => headers.find(([n]) => n === name)?.[1];
  let at = end + 4;
  let body: Buffer = Buffer.alloc(0);
  if (header('transfer-encoding')?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = Number.parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
      if (size === 0) break;
    }
    body = Buffer.concat(parts);
  } else if (header('content-length') !== undefined) {
    const size = Number(header('content-length'));
    if (buf.length < at + size) return undefined;
    body = buf.subarray(at, at + size);
    at += size;
  }
  return { request: { connection, method, target, headers, body, header }, length: at };
}

export interface RawReply {
  /** Everything the proxy sent back, until it closed or the wait ran out. */
  readonly bytes: Buffer;
  readonly text: string;
  /** Status codes of the responses in it, in order (interim ones included). */
  readonly statuses: number[];
  /** True when the proxy closed the connection (rather than the wait running out). */
  readonly closed: boolean;
}

/**
 * Writes raw bytes to the proxy and collects what comes back until the proxy closes the
 * connection, or `idleMs` pass with nothing new once `expect` responses arrived.
 */
export async function rawExchange(
  port: number,
  bytes: string | Buffer,
  options: { expect?: number; idleMs?: number; maxMs?: number } = {},
): Promise<RawReply> {
  const { expect = 1, idleMs = 200, maxMs = 10_000 } = options;
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(bytes);
  const chunks: Buffer[] = [];
  let closed = false;
  await new Promise<void>((resolve) => {
    let idle: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(idle);
      clearTimeout(limit);
      resolve();
    };
    const limit = setTimeout(done, maxMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      clearTimeout(idle);
      if (finalStatuses(Buffer.concat(chunks)) >= expect) idle = setTimeout(done, idleMs);
    });
    socket.on('close', () => {
      closed = true;
      done();
    });
  });
  socket.destroy();
  const all = Buffer.concat(chunks);
  const text = all.toString('latin1');
  return { bytes: all, text, statuses: statusesOf(text), closed };
}

/** rawExchange, plus the one request `upstream` recorded for it (undefined: none arrived). */
export async function rawExchangeSeen(
  upstream: RecordingUpstream,
  port: number,
  bytes: string,
): Promise<{ reply: RawReply; seen: RecordedRequest | undefined }> {
  const before = upstream.requests.length;
  const reply = await rawExchange(port, bytes);
  return { reply, seen: upstream.requests[before] };
}

export function statusesOf(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

function finalStatuses(buf: Buffer): number {
  return statusesOf(buf.toString('latin1')).filter((s) => s >= 200).length;
}

/**
 * Bytes on one connection from a chosen loopback source address (127.0.0.2 is another client
 * to the proxy); resolves with everything received once the proxy closes it.
 */
export function sendFrom(port: number, bytes: string, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      // A close while the client still writes is how a cut body ends.
      err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(text) : reject(err),
    );
    socket.on('close', () => resolve(text));
    socket.write(bytes);
  });
}

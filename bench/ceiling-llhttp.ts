/**
 * A ceiling, not a target: "llhttp both sides". A minimal HTTP/1.1 proxy on Node's own parser
 * binding (`HTTPParser` from node:_http_common, the llhttp that node:http uses) on both sides:
 * a REQUEST parser per client connection, a keep-alive pool of upstream connections each with
 * a RESPONSE parser. Bodies by Content-Length or chunked (re-chunked as they come), one request
 * at a time per client connection (no pipelining), no routing, limits, timeouts or header rules.
 * What an HTTP/1.1 engine written on that binding could reach at most. Never a product path.
 *
 * `node bench/ceiling-llhttp.ts UPSTREAM_URL` prints `{"port":N}` once ready.
 */
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

type Handler = (...args: never[]) => unknown;
interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(chunk: Buffer): number | (Error & { code?: string });
  [key: number]: Handler;
}
const { HTTPParser, methods } = createRequire(import.meta.url)('node:_http_common') as {
  HTTPParser: { new (): Parser; REQUEST: number; RESPONSE: number; kLenientNone: number } & Record<
    'kOnHeaders' | 'kOnHeadersComplete' | 'kOnBody' | 'kOnMessageComplete',
    number
  >;
  methods: string[];
};

const upstream = new URL(process.argv[2] ?? '');
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade']);
const idle: Upstream[] = [];

/** One message's framing both ways: the head as text, then chunks as they come. */
function head(line: string, headers: string[]): { text: string; chunked: boolean } {
  let text = `${line}\r\n`;
  let chunked = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const lower = name.toLowerCase();
    if (HOP.has(lower)) continue;
    if (lower === 'transfer-encoding') chunked = true;
    text += `${name}: ${headers[i + 1]}\r\n`;
  }
  return { text: `${text}\r\n`, chunked };
}

/** A parser whose headers may arrive in pieces (kOnHeaders) before kOnHeadersComplete. */
function parser(type: number, onHead: (h: string[], url: string, a: unknown[]) => number): Parser {
  const p = new HTTPParser();
  p.initialize(type, {}, 0, HTTPParser.kLenientNone);
  let pending: string[] = [];
  let pendingUrl = '';
  p[HTTPParser.kOnHeaders] = ((h: string[], url: string) => {
    pending.push(...h);
    pendingUrl += url;
  }) as Handler;
  p[HTTPParser.kOnHeadersComplete] = ((...a: unknown[]) => {
    const h = (a[2] as string[] | undefined) ?? pending;
    const url = (a[4] as string | undefined) ?? pendingUrl;
    pending = [];
    pendingUrl = '';
    return onHead(h, url, a);
  }) as Handler;
  return p;
}

class Upstream {
  readonly socket = connect({
    host: upstream.hostname,
    port: Number(upstream.port),
    noDelay: true,
  });
  client: Client | undefined;
  head = false;
  #chunked = false;
  #keepAlive = true;
  readonly #p = parser(HTTPParser.RESPONSE, (h, _url, a) => {
    const framing = head(`HTTP/1.1 ${a[5] as number} ${a[6] as string}`, h);
    this.#chunked = framing.chunked;
    this.#keepAlive = a[8] as boolean;
    this.client?.socket.write(framing.text, 'latin1');
    return this.head ? 1 : 0;
  });
  constructor() {
    this.#p[HTTPParser.kOnBody] = ((b: Buffer) =>
      send(this.client?.socket, b, this.#chunked)) as Handler;
    this.#p[HTTPParser.kOnMessageComplete] = (() => {
      const client = this.client;
      if (this.#chunked) client?.socket.write('0\r\n\r\n');
      this.client = undefined;
      if (this.#keepAlive) idle.push(this);
      else this.socket.end();
      client?.done();
    }) as Handler;
    this.socket.on('data', (chunk: Buffer) => {
      const out = this.client?.socket;
      out?.cork();
      const r = this.#p.execute(chunk);
      out?.uncork();
      if (typeof r !== 'number') this.socket.destroy();
      else if (out?.writableNeedDrain === true) throttle(this.socket, out);
    });
    const gone = () => {
      const at = idle.indexOf(this);
      if (at !== -1) idle.splice(at, 1);
      this.client?.socket.destroy();
    };
    this.socket.on('error', gone).on('close', gone);
  }
}

/** Data to `socket`, framed as a chunk when the message is chunked. */
function send(socket: Socket | undefined, b: Buffer, chunked: boolean): void {
  if (socket === undefined) return;
  if (!chunked) {
    socket.write(b);
    return;
  }
  socket.cork();
  socket.write(`${b.length.toString(16)}\r\n`, 'latin1');
  socket.write(b);
  socket.write('\r\n', 'latin1');
  socket.uncork();
}

/** Backpressure: stop reading `from` until `to` has written what it holds. */
function throttle(from: Socket, to: Socket): void {
  from.pause();
  const go = () => {
    to.off('drain', go).off('close', go);
    from.resume();
  };
  to.once('drain', go).once('close', go);
}

class Client {
  up: Upstream | undefined;
  #chunked = false;
  #keepAlive = true;
  readonly #p = parser(HTTPParser.REQUEST, (h, url, a) => {
    const method = methods[a[3] as number] as string;
    const up = idle.pop() ?? new Upstream();
    up.client = this;
    up.head = method === 'HEAD';
    this.up = up;
    const framing = head(`${method} ${url} HTTP/1.1`, h);
    this.#chunked = framing.chunked;
    this.#keepAlive = a[8] as boolean;
    up.socket.write(framing.text, 'latin1');
    return 0;
  });
  readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
    this.#p[HTTPParser.kOnBody] = ((b: Buffer) =>
      send(this.up?.socket, b, this.#chunked)) as Handler;
    this.#p[HTTPParser.kOnMessageComplete] = (() => {
      if (this.#chunked) this.up?.socket.write('0\r\n\r\n');
    }) as Handler;
    socket.on('data', (chunk: Buffer) => {
      const r = this.#p.execute(chunk);
      if (typeof r !== 'number') socket.destroy();
      else if (this.up?.socket.writableNeedDrain === true) throttle(socket, this.up.socket);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.up?.socket.destroy());
  }
  done(): void {
    this.up = undefined;
    if (!this.#keepAlive) this.socket.end();
  }
}

const server = createServer({ noDelay: true }, (socket) => new Client(socket));
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));

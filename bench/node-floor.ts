/**
 * The Node.js floor: the smallest proxy Node can run with the same building blocks as
 * reverse-proxy (node:http / node:http2 and one undici Agent), with none of its work: no
 * routing, no guard, no header rules, no metrics, no timeouts. Its throughput is what any
 * Node proxy can reach on this machine, so the benchmark shows the proxy against it as well
 * as against nginx: the first ratio is what the proxy's own code costs, the second what the
 * runtime does. Never a product path.
 *
 * `node bench/node-floor.ts UPSTREAM_URL CERT KEY` prints `{"port":N,"tlsPort":M}` once ready.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

const [upstream, certFile, keyFile] = process.argv.slice(2) as [string, string, string];
const agent = new Agent({ connections: 1024, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

class Exchange implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  constructor(res: ServerResponse) {
    this.#res = res;
  }
  onRequestStart() {
    // Nothing to keep: the floor never aborts.
  }
  onResponseStart(_c: Dispatcher.DispatchController, status: number, h: IncomingHttpHeaders) {
    const headers: IncomingHttpHeaders = {};
    for (const name in h) if (!HOP.has(name)) headers[name] = h[name];
    this.#res.writeHead(status, headers);
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer) {
    this.#res.write(chunk);
  }
  onResponseEnd() {
    this.#res.end();
  }
  onResponseError() {
    this.#res.destroy();
  }
}

function forward(req: IncomingMessage, res: ServerResponse): void {
  const host = req.headers.host ?? req.headers[':authority'];
  agent.dispatch(
    {
      origin: upstream,
      path: req.url ?? '/',
      method: req.method as Dispatcher.HttpMethod,
      headers: { host: String(host) },
      body: null,
    },
    new Exchange(res),
  );
}

const plain = createServer(forward).listen(0, '127.0.0.1');
const secure = createSecureServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile), allowHTTP1: true },
  forward as never,
).listen(0, '127.0.0.1');
await Promise.all([plain, secure].map((s) => new Promise((r) => s.once('listening', r))));
const portOf = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
process.stdout.write(`${JSON.stringify({ port: portOf(plain), tlsPort: portOf(secure) })}\n`);
process.on('SIGTERM', () => process.exit(0));

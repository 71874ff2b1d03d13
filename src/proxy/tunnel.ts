import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientConnection, ResponseHandler } from '../http1/client-connection.ts';
import type { UpstreamError } from '../http1/upstream-error.ts';
import type { Failure } from '../http1/upstream-error.ts';
import { upstreamPath } from '../routing/route.ts';
import { poolFull } from '../upstream/origin-pool.ts';
import type { Waiter } from '../upstream/origin-pool.ts';
import type { TargetState } from '../upstream/target-state.ts';
import type { RouteRuntime } from '../upstream/upstream-registry.ts';
import type { AttemptDeps } from './attempt-deps.ts';
import type { ClientRequest } from './client-side.ts';
import { responseHeadersFromFlat } from './headers.ts';
import { upgradeHead } from './upstream-request.ts';
import { Sticky } from './sticky.ts';

/** Told when a handshake failed for good: answer on the raw client socket. */
export type TunnelFailed = (tunnel: Tunnel, err: UpstreamError) => void;

/**
 * One WebSocket handshake, through the same pools and passive health as every request (one
 * attempt: a handshake is not retried). A `101` joins the two sockets, and the tunnel then
 * lives outside the pool and outside reloads: it ends when either side closes. Any other
 * answer (a 401, a 404) is relayed to the client as it is, then the connection closes, as
 * the handshake promised.
 */
export class Tunnel implements ResponseHandler, Waiter {
  readonly req: ClientRequest;
  readonly client: Socket;
  readonly runtime: RouteRuntime;
  readonly state: TargetState;
  readonly #head: Buffer;
  readonly #headers: string[];
  readonly #deps: AttemptDeps;
  readonly #onFailed: TunnelFailed;
  readonly #sticky: Sticky | undefined;
  #connection: ClientConnection | undefined;
  #waiting = false;
  #failure: Failure | undefined;
  #done = false;

  constructor(
    req: ClientRequest,
    client: Socket,
    head: Buffer,
    runtime: RouteRuntime,
    headers: string[],
    deps: AttemptDeps,
    onFailed: TunnelFailed,
  ) {
    this.req = req;
    this.client = client;
    this.#head = head;
    this.runtime = runtime;
    this.#headers = headers;
    this.#deps = deps;
    this.#onFailed = onFailed;
    const affinity = runtime.affinity;
    this.#sticky = affinity === undefined ? undefined : new Sticky(affinity, req);
    this.state = this.#sticky?.pick(deps.registry, runtime) ?? deps.registry.pick(runtime);
    client.on('error', () => client.destroy());
    client.once('close', () => this.#clientClosed());
  }

  start(): void {
    this.#deps.registry.attemptStarted(this.state);
    const pool = this.#deps.client.pool(this.state.target.origin);
    const got = pool.acquire(this.runtime.route.connectMs, this);
    if (got === 'busy') return this.#fail(poolFull(pool.origin));

    if (got === 'queued') this.#waiting = true;
    else this.granted(got);
  }

  granted(connection: ClientConnection): void {
    this.#waiting = false;
    if (this.#done) return this.#deps.client.pool(connection.origin).released(connection);
    this.#connection = connection;
    const route = this.runtime.route;
    const path = upstreamPath(route, this.state.target, this.req.url ?? '/');
    const plan = {
      body: 'none',
      expectBody: true,
      upgrade: true,
      responseMs: route.responseMs,
      idleMs: route.idleMs,
    } as const;
    connection.send(upgradeHead(path, this.#headers, 'websocket'), plan, this);
  }

  refused(err: UpstreamError): void {
    this.#waiting = false;
    if (!this.#done) this.#fail(err);
  }

  onUpgrade(status: number, headers: string[], upstream: Socket, head: Buffer): void {
    this.#connection = undefined;
    const client = this.client;
    this.#end(undefined);
    upstream.on('error', () => upstream.destroy());
    if (client.destroyed) return void upstream.destroy();
    // A handshake answer may set cookies (RFC 6455 §4.1): a re-pinned client learns its pin.
    const cookie = this.#sticky?.cookieFor(this.runtime, this.state);
    const pin = cookie === undefined ? '' : `set-cookie: ${cookie}\r\n`;
    client.write(
      `HTTP/1.1 ${status} Switching Protocols\r\n${headerBlock(headers, true)}${pin}\r\n`,
    );
    if (head.length > 0) client.write(head);
    if (this.#head.length > 0) upstream.write(this.#head);
    upstream.pipe(client);
    client.pipe(upstream);
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
  }

  onInterim(): void {
    // interim answers to a handshake: the final one follows
  }

  /** The upstream declined the upgrade: its answer goes to the client as it is, then close. */
  onHead(status: number, headers: string[]): void {
    if (status >= 502 && status <= 504) this.#failure = 'bad_status';
    const reason = STATUS_CODES[status] ?? 'Unknown';
    this.client.write(`HTTP/1.1 ${status} ${reason}\r\n${headerBlock(headers, false)}\r\n`);
  }

  onData(chunk: Buffer): void {
    const connection = this.#connection;
    if (!this.client.write(chunk) && connection !== undefined) {
      connection.pause();
      this.client.once('drain', () => connection.resume());
    }
  }

  onEnd(): void {
    this.#connection = undefined;
    this.#end(this.#failure);
    this.client.end();
  }

  onError(err: UpstreamError): void {
    this.#connection = undefined;
    if (!this.#done) this.#fail(err);
  }

  #fail(err: UpstreamError): void {
    this.#end(err.failure === 'busy' ? null : err.failure);
    this.#onFailed(this, err);
  }

  #end(failure: Failure | null | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#deps.registry.attemptEnded(this.runtime, this.state, failure);
  }

  #clientClosed(): void {
    if (this.#done) return;
    if (this.#waiting) this.#deps.client.pool(this.state.target.origin).cancel(this);
    this.#connection?.abort();
    this.#connection = undefined;
    this.#end(null);
  }
}

/**
 * The upstream's headers for the raw client socket, as every response's are filtered
 * (responseHeadersFromFlat: hop-by-hop headers, those Connection names, Transfer-Encoding). A
 * 101 keeps `Upgrade` and says `Connection: upgrade`; anything else says `Connection: close`
 * and loses a Content-Length beside chunking (the body is relayed de-chunked and delimited by
 * the close).
 */
function headerBlock(headers: readonly string[], upgraded: boolean): string {
  let block = '';
  let chunked = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = (headers[i] as string).toLowerCase();
    if (name === 'transfer-encoding') chunked = true;
    else if (upgraded && name === 'upgrade') block += `upgrade: ${headers[i + 1] as string}\r\n`;
  }
  const kept = responseHeadersFromFlat(headers);
  for (const name in kept) {
    if (!upgraded && name === 'content-length' && chunked) continue;
    const value = kept[name] as string | string[];
    for (const one of Array.isArray(value) ? value : [value]) block += `${name}: ${one}\r\n`;
  }
  return `${block}connection: ${upgraded ? 'upgrade' : 'close'}\r\n`;
}

import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { upstreamPath } from '../routing/route.ts';
import type { Route } from '../routing/route.ts';
import type { AttemptFailure, TargetState } from '../upstream/target-state.ts';
import type { ClientHop } from './forward-headers.ts';
import { connectionTokens, HOP_BY_HOP } from './headers.ts';
import { ExchangeState } from './exchange-state.ts';
import { attemptFailureOf } from './upstream-errors.ts';
import { protocolError } from './upstream-exchange.ts';
import { forwardedHeaders } from './web-proxy.ts';

/** What an upgrade reports when it ends; one object for the process. */
export interface UpgradeHooks {
  /** The upstream could not be reached or answered nothing usable: answer on the raw socket. */
  failed(exchange: UpgradeExchange, err: Error): void;
  /**
   * The handshake's one attempt is over (upgraded, answered, failed, or the client left):
   * `failure` undefined for a usable answer, null when it says nothing about the upstream.
   */
  attemptEnded(exchange: UpgradeExchange, failure: AttemptFailure | null | undefined): void;
}

/** Sends one WebSocket handshake upstream through the engine's Agent (see engine.ts). */
export function dispatchUpgrade(
  agent: Agent,
  hooks: UpgradeHooks,
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  route: Route,
  state: TargetState,
  hop: ClientHop,
): void {
  const exchange = new UpgradeExchange(req, client, head, route, state, hooks);
  const options: Dispatcher.DispatchOptions = {
    origin: state.target.origin,
    path: upstreamPath(route, state.target, req.url ?? '/'),
    method: 'GET',
    headers: forwardedHeaders(req, route, hop),
    upgrade: req.headers.upgrade ?? 'websocket',
    headersTimeout: route.responseMs,
  };
  try {
    agent.dispatch(options, exchange);
  } catch (err) {
    exchange.fail(err as Error);
  }
}

/**
 * One WebSocket handshake through undici's upgrade dispatch, the same Agent and pools as every
 * other request. A `101` joins the two sockets; any other answer (a 401, a 404) is relayed to
 * the client as a plain response, then the connection closes, as the handshake promised.
 */
export class UpgradeExchange implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly client: Socket;
  readonly route: Route;
  readonly state: TargetState;
  readonly #head: Buffer;
  /** What the attempt said of the upstream: null when nothing (the client left first). */
  #failure: AttemptFailure | null | undefined;
  readonly #hooks: UpgradeHooks;
  readonly #state: ExchangeState;

  constructor(
    req: IncomingMessage,
    client: Socket,
    head: Buffer,
    route: Route,
    state: TargetState,
    hooks: UpgradeHooks,
  ) {
    this.req = req;
    this.client = client;
    this.route = route;
    this.state = state;
    this.#head = head;
    this.#hooks = hooks;
    // Node hands the socket over with no error listener of its own.
    client.on('error', () => client.destroy());
    this.#state = new ExchangeState(client, () => hooks.attemptEnded(this, this.#failure));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#state.start(controller);
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    upstream: Duplex,
  ): void {
    const client = this.client;
    this.#state.finish();
    upstream.on('error', () => upstream.destroy());
    if (client.destroyed) {
      upstream.destroy();
      return this.#state.settle();
    }
    client.write(`HTTP/1.1 ${statusCode} Switching Protocols\r\n${headerBlock(headers, true)}\r\n`);
    if (this.#head.length > 0) upstream.write(this.#head);
    upstream.pipe(client);
    client.pipe(upstream);
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    this.#state.settle();
  }

  /** The upstream declined the upgrade: its answer goes to the client as it is, then close. */
  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200 || statusCode > 599) {
      if (statusCode >= 102 && statusCode <= 199) return; // interim: the final answer follows
      controller.abort(protocolError(`upstream answered an upgrade with status ${statusCode}`));
      return;
    }
    if (statusCode >= 502 && statusCode <= 504) this.#failure = 'bad_status';
    const reason = STATUS_TEXT[statusCode] ?? 'Unknown';
    this.client.write(`HTTP/1.1 ${statusCode} ${reason}\r\n${headerBlock(headers, false)}\r\n`);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.client.write(chunk)) {
      controller.pause();
      this.client.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (!this.#state.finish()) return;
    this.client.end();
    this.#state.settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.#failure = attemptFailureOf(err);
    this.#state.fail(err, () => this.#hooks.failed(this, err));
  }

  fail(err: Error): void {
    this.onResponseError(undefined as unknown as Dispatcher.DispatchController, err);
  }
}

const STATUS_TEXT: Record<number, string | undefined> = STATUS_CODES;

/**
 * The upstream's headers for the raw client socket, each line validated by construction
 * (undici has parsed them). Hop-by-hop headers and those Connection names are dropped; a 101
 * keeps `Upgrade` and says `Connection: upgrade`, anything else says `Connection: close` and
 * loses Transfer-Encoding (the body is relayed de-chunked and delimited by the close).
 */
function headerBlock(headers: IncomingHttpHeaders, upgraded: boolean): string {
  const named = new Set(connectionTokens(String(headers.connection ?? '')));
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (upgraded && name === 'upgrade') {
      out += `upgrade: ${String(value)}\r\n`;
      continue;
    }
    if (HOP_BY_HOP.includes(name) || named.has(name) || name === 'transfer-encoding') continue;
    if (!upgraded && name === 'content-length' && headers['transfer-encoding'] !== undefined) {
      continue;
    }
    for (const one of Array.isArray(value) ? value : [value]) out += `${name}: ${one}\r\n`;
  }
  return `${out}connection: ${upgraded ? 'upgrade' : 'close'}\r\n`;
}

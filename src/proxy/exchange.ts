import type { Socket } from 'node:net';
import type { ClientConnection, RequestPlan, ResponseHandler } from '../http1/client-connection.ts';
import type { UpstreamError } from '../http1/upstream-error.ts';
import type { Failure } from '../http1/upstream-error.ts';
import { upstreamPath } from '../routing/route.ts';
import { poolFull } from '../upstream/origin-pool.ts';
import type { Waiter } from '../upstream/origin-pool.ts';
import { replayable } from '../upstream/retry-policy.ts';
import type { TargetState } from '../upstream/target-state.ts';
import type { RouteRuntime } from '../upstream/upstream-registry.ts';
import type { RequestIdentity } from './request-identity.ts';
import type { AttemptDeps } from './attempt-deps.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import { bodyFraming } from './request-body.ts';
import { clientResponseHeaders, relayEarlyHints } from './response-head.ts';
import { hasHost, requestHead } from './upstream-request.ts';
import { Sticky } from './sticky.ts';
import { compressedBody } from './compressed-body.ts';
import type { CompressedBody } from './compressed-body.ts';

import type { ExchangeListener } from './exchange-end.ts';

export type { ExchangeEnd, ExchangeListener } from './exchange-end.ts';

/**
 * One request's trip upstream, in the shape of Caddy's proxy loop: pick an upstream, take a
 * connection from its origin's pool, exchange, and when the attempt fails classify the failure
 * once (UpstreamError.failure) and decide: another upstream (retry-policy.ts and the route's
 * budget; only before anything reached the client, only for requests that can be replayed),
 * or the error response. Passive health and load are told by the loop itself, once per
 * attempt; nothing calls back into whoever started it but the one listener at the end.
 *
 * The response is written straight into the client's response with backpressure both ways:
 * the upstream socket pauses while the client's buffer drains, the client body pauses while
 * the upstream socket's does.
 */
export class Exchange implements ResponseHandler, Waiter {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly runtime: RouteRuntime;
  readonly #deps: AttemptDeps;
  readonly #headers: string[];
  /** Its X-Request-Id is returned on the response (the upstream's own copy is replaced). */
  readonly #identity: RequestIdentity;
  readonly #plan: RequestPlan;
  readonly #method: string;
  readonly #startedAt = performance.now();
  readonly #onEnd: ExchangeListener | undefined;
  readonly #tried: TargetState[] = [];
  /** The route's `affinity` for this request (undefined: the route has none). */
  readonly #sticky: Sticky | undefined;
  #state: TargetState | undefined;
  #connection: ClientConnection | undefined;
  /** A pool queue this exchange waits in. */
  #waitingIn: { cancel(w: Waiter): void } | undefined;
  #failure: Failure | undefined;
  #done = false;
  #bodyStarted = false;
  /** An HTTP/1.0 request without Host: the upstream's authority goes in its place. */
  readonly #needsHost: boolean;
  /** The stale-connection resend was used: a second one would hide a real failure. */
  #resent = false;
  /** performance.now() when the current attempt's head went out. */
  #sentAt: number | undefined;
  #bytesSent = 0;
  #bytesReceived = 0;
  /** `compress: true` and this response is compressed: the body goes through it. */
  #compressed: CompressedBody | undefined;

  constructor(
    req: ClientRequest,
    res: ClientResponse,
    runtime: RouteRuntime,
    headers: string[],
    identity: RequestIdentity,
    deps: AttemptDeps,
    onEnd: ExchangeListener | undefined,
  ) {
    this.req = req;
    this.res = res;
    this.runtime = runtime;
    this.#headers = headers;
    this.#identity = identity;
    this.#deps = deps;
    this.#onEnd = onEnd;
    this.#method = req.method ?? 'GET';
    const route = runtime.route;
    this.#plan = {
      body: bodyFraming(req),
      expectBody: this.#method !== 'HEAD',
      upgrade: false,
      responseMs: route.responseMs,
      idleMs: route.idleMs,
    };
    this.#needsHost = req.httpVersionMinor === 0 && !hasHost(headers);
    this.#sticky = runtime.affinity === undefined ? undefined : new Sticky(runtime.affinity, req);
    res.once('close', () => this.#clientClosed());
  }

  start(): void {
    const route = this.runtime.route;
    if (route.retryAttempts > 0) this.runtime.shared.budget.request(Date.now());
    const registry = this.#deps.registry;
    this.#attempt(this.#sticky?.pick(registry, this.runtime) ?? registry.pick(this.runtime));
  }

  #attempt(state: TargetState): void {
    this.#state = state;
    this.#tried.push(state);
    this.#deps.registry.attemptStarted(state);
    this.#acquire(state);
  }

  /** A connection to `state`'s origin, now or once one is free. */
  #acquire(state: TargetState): void {
    this.#failure = undefined;
    const pool = this.#deps.client.pool(state.target.origin);
    const got = pool.acquire(this.runtime.route.connectMs, this);
    if (got === 'busy') return this.#attemptFailed(poolFull(pool.origin));
    if (got === 'queued') this.#waitingIn = pool;
    else this.granted(got);
  }

  granted(connection: ClientConnection): void {
    this.#waitingIn = undefined;
    if (this.#done) {
      // The client left while the connection was being opened: it serves someone else.
      this.#deps.client.pool(connection.origin).released(connection);
      return;
    }
    this.#connection = connection;
    const state = this.#state as TargetState;
    const path = upstreamPath(this.runtime.route, state.target, this.req.url ?? '/');
    const host = this.#needsHost
      ? state.target.origin.slice(state.target.origin.indexOf('//') + 2)
      : undefined;
    const head = requestHead(this.#method, path, this.#headers, this.#plan.body, host);
    this.#sentAt = performance.now();
    connection.send(head, this.#plan, this);
    if (this.#plan.body !== 'none') this.#sendBody(connection);
  }

  refused(err: UpstreamError): void {
    this.#waitingIn = undefined;
    if (!this.#done) this.#attemptFailed(err);
  }

  #sendBody(connection: ClientConnection): void {
    if (this.#bodyStarted) return;
    this.#bodyStarted = true;
    const req = this.req;
    const upstream = connection.socket;
    const resume = () => req.resume();
    const limit = this.runtime.route.gate?.maxBodyBytes;
    req.on('data', (chunk) => {
      this.#bytesReceived += chunk.length;
      if (this.#connection !== connection) return;
      // A body past the route's limit (chunked, or longer than it said): the upstream never
      // gets a byte more than the limit, and the exchange ends as a 413.
      if (limit !== undefined && this.#bytesReceived > limit) return this.#bodyTooLarge();
      if (!connection.writeBody(chunk)) {
        req.pause();
        upstream.once('drain', resume);
      }
    });
    req.on('end', () => {
      if (this.#connection === connection) connection.endBody();
    });
    // A body cut for being too slow (body-watch.ts) or a client gone mid-body: the upstream
    // must not take the truncated body for a whole one.
    req.on('error', () => this.#clientClosed());
    req.resume();
  }

  onInterim(status: number, headers: string[]): void {
    relayEarlyHints(this.req, this.res, status, headers);
  }

  onHead(status: number, headers: string[]): void {
    if (status >= 502 && status <= 504) {
      this.#failure = 'bad_status';
      if (status !== 504 && this.#retry('bad_status')) return;
    }
    const route = this.runtime.route;
    const res = this.res;
    if (res.req.httpVersionMajor === 1) res.statusMessage = '';
    const sent = clientResponseHeaders(route, this.req, headers, this.#identity.id);
    // After the rules: a rule removing the upstream's Set-Cookie must not remove the pin.
    this.#sticky?.stamp(sent, this.runtime, this.#state as TargetState);
    if (route.compress) this.#compressed = compressedBody(this.req, status, sent, res);
    res.writeHead(status, sent);
  }

  onData(chunk: Buffer): void {
    this.#bytesSent += chunk.length;
    const sink = this.#compressed ?? this.res;
    if (!sink.write(chunk)) {
      const connection = this.#connection as ClientConnection;
      connection.pause();
      sink.once('drain', () => {
        if (this.#connection === connection) connection.resume();
      });
    }
  }

  onEnd(): void {
    if (this.#done) return;
    this.#done = true;
    this.#endAttempt(this.#failure);
    this.#connection = undefined;
    // A compressed body is over when the compressor has flushed its last bytes to the client.
    if (this.#compressed !== undefined) return this.#compressed.end(() => this.#report(undefined));
    this.res.end();
    this.#report(undefined);
  }

  onUpgrade(_status: number, _headers: string[], socket: Socket): void {
    socket.destroy(); // never asked for on this path: the client connection refuses it first
  }

  onError(err: UpstreamError): void {
    const connection = this.#connection;
    this.#connection = undefined;
    if (this.#done) return;
    // A kept-alive connection the upstream had closed just as the request went out: nothing
    // was answered, so send it again once on a new one (no attempt counted, no failure).
    if (
      connection !== undefined &&
      connection.requests > 1 &&
      connection.answeredNothing &&
      !this.#resent &&
      err.failure === 'reset' &&
      this.#plan.body === 'none' &&
      !this.res.headersSent
    ) {
      this.#resent = true;
      return this.#acquire(this.#state as TargetState);
    }
    this.#attemptFailed(err);
  }

  /** A failed attempt: another upstream if the policy allows, else the error response. */
  #attemptFailed(err: UpstreamError): void {
    if (err.failure !== 'busy' && this.#retry(err.failure)) return;
    this.#done = true;
    this.#compressed?.destroy();
    this.#endAttempt(err.failure === 'busy' ? null : err.failure);
    this.#report(err);
  }

  /** Tries the next upstream; false when this failure ends the exchange. */
  #retry(failure: Failure): boolean {
    if (this.#done || this.res.headersSent || this.#bodyStarted) return false;
    const route = this.runtime.route;
    if (this.#tried.length > route.retryAttempts) return false;
    if (!replayable(this.#method, this.#plan.body !== 'none', failure)) return false;
    const failed = this.#state as TargetState;
    if (!this.runtime.shared.budget.tryRetry(Date.now(), route.retryBudgetPercent)) {
      failed.retriesRefused++;
      return false;
    }
    failed.retries++;
    this.#connection?.abort();
    this.#connection = undefined;
    this.#endAttempt(failure);
    this.#attempt(this.#deps.registry.pick(this.runtime, this.#tried));
    return true;
  }

  /** Gives the attempt's load back and tells passive health what it said of the upstream. */
  #endAttempt(failure: Failure | null | undefined): void {
    const state = this.#state;
    if (state === undefined) return;
    this.#state = undefined;
    this.#deps.registry.attemptEnded(this.runtime, state, failure);
  }

  #bodyTooLarge(): void {
    if (this.#done) return;
    this.#done = true;
    this.req.pause();
    this.#connection?.abort();
    this.#connection = undefined;
    // The client sent too much: that says nothing about the upstream.
    this.#endAttempt(null);
    this.#report(undefined, 'body_too_large');
  }

  #clientClosed(): void {
    if (this.#done) return;
    this.#done = true;
    this.#waitingIn?.cancel(this);
    this.#waitingIn = undefined;
    this.#connection?.abort();
    this.#connection = undefined;
    this.#compressed?.destroy();
    // The client left: that says nothing about the upstream.
    this.#endAttempt(null);
  }

  #report(error: UpstreamError | undefined, refusal?: 'body_too_large'): void {
    const target = this.#tried[this.#tried.length - 1];
    this.#onEnd?.({
      res: this.res,
      identity: this.#identity,
      startedAt: this.#startedAt,
      route: this.runtime.route,
      seconds: (performance.now() - this.#startedAt) / 1000,
      error,
      upstream: target?.target.url ?? '',
      attempts: this.#tried.length,
      upstreamSeconds:
        this.#sentAt === undefined ? undefined : (performance.now() - this.#sentAt) / 1000,
      bytesSent: this.#compressed?.bytesOut ?? this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      compression: this.#compressed?.figures(this.#bytesSent),
      refusal,
    });
  }
}

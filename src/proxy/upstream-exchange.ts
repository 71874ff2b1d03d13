import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { applyToHeaderObject } from '../routing/header-rules.ts';
import type { Route } from '../routing/route.ts';
import type { RouteRuntime } from '../upstream/upstream-registry.ts';
import type { AttemptFailure, TargetState } from '../upstream/target-state.ts';
import type { CompletionHandler } from './engine.ts';
import { responseHeadersForClient } from './headers.ts';
import { ExchangeState } from './exchange-state.ts';
import { attemptFailureOf, UPSTREAM_PROTOCOL_CODE } from './upstream-errors.ts';

/** What an exchange reports as it goes; one object for the process, no per-request closures. */
export interface ExchangeHooks {
  /** Sends the next attempt to `state` (engine.ts). */
  dispatch(exchange: UpstreamExchange, attempt: Attempt): void;
  /** An attempt is over: `failure` undefined for a usable answer, null when the client left. */
  attemptEnded(
    exchange: UpstreamExchange,
    attempt: Attempt,
    failure: AttemptFailure | null | undefined,
  ): void;
  /** The upstream to try next after a failed attempt, or undefined: no retry (engine.ts). */
  retry(
    exchange: UpstreamExchange,
    failed: Attempt,
    failure: AttemptFailure,
  ): TargetState | undefined;
  /** The response was fully handed to the client socket. */
  complete(exchange: UpstreamExchange): void;
  /** The exchange failed for good (never after `complete`, nor for a client that left). */
  failed(exchange: UpstreamExchange, err: Error): void;
}

export function protocolError(message: string): Error {
  return Object.assign(new Error(message), { code: UPSTREAM_PROTOCOL_CODE });
}

/** Given to undici when a 502/503 is dropped for a retry: not reported as a failure. */
const DROPPED_FOR_RETRY = new Error('upstream answer dropped for a retry');

/**
 * One try at one upstream: the undici dispatch handler. Each attempt has its own, so that
 * whatever undici still reports about an abandoned attempt cannot reach the next one.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  readonly exchange: UpstreamExchange;
  readonly state: TargetState;
  /** Set by the engine once the attempt took a place in its origin's load (engine.ts). */
  holdsLoad = false;
  #ended = false;
  #failure: AttemptFailure | undefined;

  constructor(exchange: UpstreamExchange, state: TargetState) {
    this.exchange = exchange;
    this.state = state;
  }

  /**
   * Reports the attempt's end once: `failure` as given, null (the client left: nothing said
   * about the upstream) included; undefined takes what the answer said (a 502-504).
   */
  end(failure: AttemptFailure | null | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.exchange.hooks.attemptEnded(
      this.exchange,
      this,
      failure === undefined ? this.#failure : failure,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.exchange.started(controller);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode >= 502 && statusCode <= 504) {
      this.#failure = 'bad_status';
      if (statusCode !== 504 && this.exchange.retryAfter(this, 'bad_status')) {
        controller.abort(DROPPED_FOR_RETRY);
        return;
      }
    }
    this.exchange.responseStart(controller, statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.exchange.responseData(controller, chunk);
  }

  onResponseEnd(): void {
    this.end(undefined);
    this.exchange.responseEnd();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (err === DROPPED_FOR_RETRY) return; // the retry is already under way
    this.exchange.attemptError(this, err);
  }
}

/**
 * One request's trip upstream, over one or more attempts, writing straight into the client's
 * ServerResponse: no intermediate stream, no promise. Backpressure both ways: undici pauses the
 * upstream socket while the client's buffer drains, and pulls the request body from `req` at
 * the upstream socket's pace. An attempt that fails before anything reached the client may be
 * tried again on another upstream (engine.ts decides); once the response started, never.
 *
 * Nothing the upstream sends reaches writeHead unchecked: its reason phrase is never passed on
 * (the client gets the standard one, as over HTTP/2, which has none), a final status outside
 * 200-599 fails the exchange (502), and interim responses are relayed (103 Early Hints, to
 * HTTP/1.1 clients) or dropped (102 and the rest), so the final response always follows.
 */
export class UpstreamExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
  readonly runtime: RouteRuntime;
  readonly startedAt: number;
  readonly onComplete: CompletionHandler | undefined;
  readonly hooks: ExchangeHooks;
  /** The request headers for upstream, built once for every attempt. */
  readonly headers: string[];
  /** Upstreams tried so far, the current one last. */
  readonly tried: TargetState[] = [];
  readonly #state: ExchangeState;
  #current: Attempt | undefined;
  #resume: (() => void) | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    runtime: RouteRuntime,
    headers: string[],
    hooks: ExchangeHooks,
    onComplete: CompletionHandler | undefined,
  ) {
    this.onComplete = onComplete;
    this.req = req;
    this.res = res;
    this.route = runtime.route;
    this.runtime = runtime;
    this.headers = headers;
    this.startedAt = performance.now();
    this.hooks = hooks;
    // Each attempt reports its own end (attemptEnded); the exchange's needs no hook.
    this.#state = new ExchangeState(res, () => undefined);
  }

  /** Starts an attempt at `state`. */
  attempt(state: TargetState): void {
    const attempt = new Attempt(this, state);
    this.#current = attempt;
    this.tried.push(state);
    this.hooks.dispatch(this, attempt);
  }

  get current(): Attempt | undefined {
    return this.#current;
  }

  started(controller: Dispatcher.DispatchController): void {
    this.#state.start(controller);
  }

  /** A failed attempt, before or while answering: tried again if the engine allows. */
  retryAfter(attempt: Attempt, failure: AttemptFailure): boolean {
    if (attempt !== this.#current || this.#state.done || this.res.headersSent) return false;
    const next = this.hooks.retry(this, attempt, failure);
    if (next === undefined) return false;
    attempt.end(failure);
    this.attempt(next);
    return true;
  }

  responseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode >= 200 && statusCode <= 599) {
      // Node frames the body for this client itself (chunked, or close-delimited for HTTP/1.0).
      const out = responseHeadersForClient(headers);
      const rules = this.route.responseRules;
      this.res.writeHead(statusCode, rules === undefined ? out : applyToHeaderObject(rules, out));
    } else if (statusCode >= 102 && statusCode <= 199) {
      if (statusCode === 103) this.#relayEarlyHints(headers);
    } else {
      controller.abort(protocolError(`upstream answered with status ${statusCode}`));
    }
  }

  #relayEarlyHints(headers: IncomingHttpHeaders): void {
    const { link } = headers;
    const req = this.req;
    if (link === undefined || req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return;
    try {
      this.res.writeEarlyHints({ link });
    } catch {
      // A Link value Node will not write is dropped with the hint; the final response follows.
    }
  }

  responseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      // Created only for the (rare, large-body) exchanges that ever wait for the client.
      this.#resume ??= () => controller.resume();
      this.res.once('drain', this.#resume);
    }
  }

  responseEnd(): void {
    if (!this.#state.finish()) return;
    this.res.end();
    this.hooks.complete(this);
    this.#state.settle();
  }

  attemptError(attempt: Attempt, err: Error): void {
    if (attempt !== this.#current) return attempt.end(null);
    const failure = attemptFailureOf(err);
    if (failure === null) {
      // The client left (or the exchange is over): not the upstream's failure.
      attempt.end(null);
      return this.#state.fail(err, () => this.hooks.failed(this, err));
    }
    if (this.retryAfter(attempt, failure)) return;
    attempt.end(failure);
    this.#state.fail(err, () => this.hooks.failed(this, err));
  }

  /** Called by the engine when undici refuses the request before it starts. */
  fail(attempt: Attempt, err: Error): void {
    this.attemptError(attempt, err);
  }
}

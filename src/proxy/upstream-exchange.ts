import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Route } from '../routing/route-table.ts';
import type { CompletionHandler } from './engine.ts';
import { responseHeadersForClient } from './headers.ts';
import { ExchangeState } from './exchange-state.ts';
import { UPSTREAM_PROTOCOL_CODE } from './upstream-errors.ts';

/** What an exchange reports when it ends; one object for the process, no per-request closures. */
export interface ExchangeHooks {
  /** The response was fully handed to the client socket. */
  complete(exchange: UpstreamExchange): void;
  /** The upstream exchange failed (never called after `complete`, nor for a client that left). */
  failed(exchange: UpstreamExchange, err: Error): void;
  /** The exchange is over, whichever way (after complete or failed, or once the client left). */
  settled(exchange: UpstreamExchange): void;
}

export function protocolError(message: string): Error {
  return Object.assign(new Error(message), { code: UPSTREAM_PROTOCOL_CODE });
}

/**
 * One request's trip upstream, as an undici dispatch handler that writes straight into the
 * client's ServerResponse: no intermediate stream, no promise. Backpressure both ways: undici
 * pauses the upstream socket while the client's buffer drains, and pulls the request body from
 * `req` at the upstream socket's pace.
 *
 * Nothing the upstream sends reaches writeHead unchecked: its reason phrase is never passed on
 * (the client gets the standard one, as over HTTP/2, which has none), a final status outside
 * 200-599 fails the exchange (502), and interim responses are relayed (103 Early Hints, to
 * HTTP/1.1 clients) or dropped (102 and the rest), so the final response always follows.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
  readonly startedAt: number;
  readonly onComplete: CompletionHandler | undefined;
  readonly #hooks: ExchangeHooks;
  readonly #state: ExchangeState;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    startedAt: number,
    hooks: ExchangeHooks,
    onComplete: CompletionHandler | undefined,
  ) {
    this.onComplete = onComplete;
    this.req = req;
    this.res = res;
    this.route = route;
    this.startedAt = startedAt;
    this.#hooks = hooks;
    this.#state = new ExchangeState(res, () => hooks.settled(this));
  }

  #resume: (() => void) | undefined;

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#state.start(controller);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode >= 200 && statusCode <= 599) {
      // Node frames the body for this client itself (chunked, or close-delimited for HTTP/1.0).
      this.res.writeHead(statusCode, responseHeadersForClient(headers));
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

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      // Created only for the (rare, large-body) exchanges that ever wait for the client.
      this.#resume ??= () => controller.resume();
      this.res.once('drain', this.#resume);
    }
  }

  onResponseEnd(): void {
    if (!this.#state.finish()) return;
    this.res.end();
    this.#hooks.complete(this);
    this.#state.settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.#state.fail(err, () => this.#hooks.failed(this, err));
  }

  /** Called by the engine when undici refuses the request before it starts. */
  fail(err: Error): void {
    this.onResponseError(undefined as unknown as Dispatcher.DispatchController, err);
  }
}

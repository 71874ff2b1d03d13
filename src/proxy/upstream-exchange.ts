import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Route } from '../routing/route-table.ts';
import type { CompletionHandler } from './engine.ts';
import { responseHeadersForClient } from './headers.ts';

/** What an exchange reports when it ends; one object for the process, no per-request closures. */
export interface ExchangeHooks {
  /** The response was fully handed to the client socket. */
  complete(exchange: UpstreamExchange): void;
  /** The upstream exchange failed (never called after `complete`, nor for a client that left). */
  failed(exchange: UpstreamExchange, err: Error): void;
}

/** The reason given to undici when the client goes away first: not an upstream failure. */
const CLIENT_GONE = Object.assign(new Error('client closed the connection'), {
  code: 'ERR_CLIENT_GONE',
});

/**
 * One request's trip upstream, as an undici dispatch handler that writes straight into the
 * client's ServerResponse: no intermediate stream, no promise. Backpressure both ways: undici
 * pauses the upstream socket while the client's buffer drains, and pulls the request body from
 * `req` at the upstream socket's pace.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
  readonly startedAt: number;
  readonly onComplete: CompletionHandler | undefined;
  readonly #hooks: ExchangeHooks;
  #controller: Dispatcher.DispatchController | undefined;
  #done = false;

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
    // 'close' fires after 'finish' too; #done tells the two apart.
    res.once('close', this.#onClientClose);
  }

  readonly #onClientClose = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#controller?.abort(CLIENT_GONE);
  };

  #resume: (() => void) | undefined;

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#done) controller.abort(CLIENT_GONE);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // Node frames the body for this client itself (chunked, or close-delimited for HTTP/1.0).
    this.res.writeHead(statusCode, statusMessage, responseHeadersForClient(headers));
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
    if (this.#done) return;
    this.#done = true;
    this.res.end();
    this.#hooks.complete(this);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (err === CLIENT_GONE) return;
    if (this.#done) return;
    this.#done = true;
    this.#hooks.failed(this, err);
  }

  /** Called by the engine when undici refuses the request before it starts. */
  fail(err: Error): void {
    this.onResponseError(undefined as unknown as Dispatcher.DispatchController, err);
  }
}

import type { EventEmitter } from 'node:events';
import type { Dispatcher } from 'undici';

/**
 * The reason given to undici when the client goes away first: not an upstream failure. Also
 * what a request body is destroyed with when the proxy cuts a slow one (body-watch.ts).
 */
export const CLIENT_GONE = Object.assign(new Error('client closed the connection'), {
  code: 'ERR_CLIENT_GONE',
});

/**
 * The life of one exchange with undici, shared by plain requests and upgrades: the upstream
 * request is aborted when the client leaves first, the exchange ends once (`finish`), and
 * `settled` is told exactly once, whichever way it ended.
 */
export class ExchangeState {
  #controller: Dispatcher.DispatchController | undefined;
  #done = false;
  #settled = false;
  readonly #onSettled: () => void;

  /** `client` is the ServerResponse or the raw socket: its 'close' is the client leaving. */
  constructor(client: EventEmitter, onSettled: () => void) {
    this.#onSettled = onSettled;
    // 'close' fires after a finished response too; #done tells the two apart.
    client.once('close', this.#onClientClose);
  }

  readonly #onClientClose = (): void => {
    if (!this.#done) {
      this.#done = true;
      this.#controller?.abort(CLIENT_GONE);
    }
    this.settle();
  };

  get done(): boolean {
    return this.#done;
  }

  start(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#done) controller.abort(CLIENT_GONE);
  }

  /** Marks the exchange over; false when it already was (the caller then does nothing). */
  finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    return true;
  }

  /** undici's onResponseError: reported once, unless the client leaving caused it. */
  fail(err: Error, report: () => void): void {
    if (err === CLIENT_GONE || !this.finish()) return;
    report();
    this.settle();
  }

  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#onSettled();
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Route } from '../routing/route-table.ts';
import { isHttp2Stream } from './request-body.ts';

/** Starts one request's exchange; the gate calls it when the connection's turn comes. */
export type Dispatch = (req: IncomingMessage, res: ServerResponse, route: Route) => void;

interface Waiting {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: Route;
}

/** Per client connection, kept on the socket itself (one property, set on its first request). */
interface ConnectionTurn {
  busy: boolean;
  waiting: Waiting[] | undefined;
  /** Reading is stopped until the waiting list shrinks. */
  held: boolean;
  watching: boolean;
  readonly gate: PipelineGate;
}

/** The parts of Node's http server state on a socket this file relies on (see hold()). */
interface ServerSocket extends Socket {
  [TURN]?: ConnectionTurn;
  _paused?: boolean;
  parser?: { resume(): void } | null;
}

const TURN = Symbol('reverse-proxy.turn');

/** Waiting requests at which the connection stops being read, and at which it is read again. */
export const HOLD_AT = 8;
const READ_AGAIN_AT = 2;

/**
 * One request at a time per client connection, as nginx does: pipelined requests are answered
 * in order anyway, so running them side by side upstream only multiplies upstream connections
 * (one client writing 50,000 pipelined GETs opened over 15,000). A turn lasts until the
 * response has been handed to the socket; the rest wait here in order, and once HOLD_AT are
 * waiting the connection is not read until they are down to READ_AGAIN_AT, so a client that
 * writes and never reads costs one upstream exchange, a socket buffer of responses and a
 * bounded list, not memory per request it sent.
 */
export class PipelineGate {
  readonly #dispatch: Dispatch;

  constructor(dispatch: Dispatch) {
    this.#dispatch = dispatch;
  }

  admit(req: IncomingMessage, res: ServerResponse, route: Route): void {
    // HTTP/2 streams are independent (and the session bounds them): no turn to wait for.
    if (isHttp2Stream(req)) return this.#dispatch(req, res, route);
    const socket = req.socket as ServerSocket;
    let turn = socket[TURN];
    if (turn === undefined) {
      turn = { busy: false, waiting: undefined, held: false, watching: false, gate: this };
      socket[TURN] = turn;
    }
    if (!turn.busy) {
      turn.busy = true;
      this.#start(socket, req, res, route);
      return;
    }
    (turn.waiting ??= []).push({ req, res, route });
    if (turn.waiting.length >= HOLD_AT && !turn.held) hold(socket, turn);
  }

  #start(socket: ServerSocket, req: IncomingMessage, res: ServerResponse, route: Route): void {
    (res as TurnResponse)[CONNECTION] = socket;
    res.on('close', endTurn);
    this.#dispatch(req, res, route);
  }

  /** The connection's response is over: start the next request that still has a client. */
  next(socket: ServerSocket, turn: ConnectionTurn): void {
    const waiting = turn.waiting;
    let next: Waiting | undefined;
    while ((next = waiting?.shift()) !== undefined && next.res.destroyed);
    if (turn.held && (waiting?.length ?? 0) <= READ_AGAIN_AT) readAgain(socket, turn);
    if (next === undefined) {
      turn.busy = false;
      return;
    }
    // undici frees an upstream connection one loop turn after its response ended (to see
    // whether the upstream closes it after all); starting sooner would open a second one.
    const { req, res, route } = next;
    setImmediate(() => this.#start(socket, req, res, route));
  }
}

interface TurnResponse extends ServerResponse {
  [CONNECTION]?: ServerSocket;
}

const CONNECTION = Symbol('reverse-proxy.connection');

/**
 * A response's 'close': it was handed to the socket in full, or cut. Counting the turn until
 * then, not until the upstream exchange ended, is what bounds a client that does not read:
 * its responses stop finishing once the socket's buffers are full, and so do its turns.
 * Shared by every response (the socket rides on the response), so no closure per request.
 */
function endTurn(this: TurnResponse): void {
  const socket = this[CONNECTION];
  const turn = socket?.[TURN];
  if (socket !== undefined && turn !== undefined) turn.gate.next(socket, turn);
}

/**
 * Stops reading the way Node's http server does when responses back up (`_paused`, which its
 * own resume paths check): a plain pause() would be undone by the next request that reads its
 * body. Node still resumes a `_paused` socket once its output drains; the 'resume' listener
 * puts the hold back until this gate lets go.
 */
function hold(socket: ServerSocket, turn: ConnectionTurn): void {
  turn.held = true;
  socket._paused = true;
  socket.pause();
  if (!turn.watching) {
    turn.watching = true;
    socket.on('resume', keepHeld);
  }
}

function keepHeld(this: ServerSocket): void {
  if (this[TURN]?.held !== true) return;
  this._paused = true;
  this.pause();
}

function readAgain(socket: ServerSocket, turn: ConnectionTurn): void {
  turn.held = false;
  socket._paused = false;
  socket.parser?.resume();
  socket.resume();
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Route } from '../routing/route-table.ts';

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
 * One exchange at a time per client connection, as nginx does: pipelined requests are answered
 * in order anyway, so running them side by side upstream only multiplies upstream connections
 * (one client writing 50,000 pipelined GETs opened over 15,000). The rest wait here in order,
 * and once HOLD_AT are waiting the connection is not read until they are down to
 * READ_AGAIN_AT, so a client that writes and never reads costs one upstream exchange and a
 * bounded list, not memory per request it sent.
 */
export class PipelineGate {
  readonly #dispatch: Dispatch;

  constructor(dispatch: Dispatch) {
    this.#dispatch = dispatch;
  }

  admit(req: IncomingMessage, res: ServerResponse, route: Route): void {
    const socket = req.socket as ServerSocket;
    let turn = socket[TURN];
    if (turn === undefined) {
      turn = { busy: false, waiting: undefined, held: false, watching: false };
      socket[TURN] = turn;
    }
    if (!turn.busy) {
      turn.busy = true;
      this.#dispatch(req, res, route);
      return;
    }
    (turn.waiting ??= []).push({ req, res, route });
    if (turn.waiting.length >= HOLD_AT && !turn.held) hold(socket, turn);
  }

  /** The connection's exchange is over: start the next one that still has a client. */
  release(client: Socket): void {
    const socket = client as ServerSocket;
    const turn = socket[TURN];
    if (turn === undefined) return;
    const waiting = turn.waiting;
    let next: Waiting | undefined;
    while ((next = waiting?.shift()) !== undefined && next.res.destroyed);
    if (turn.held && (waiting?.length ?? 0) <= READ_AGAIN_AT) readAgain(socket, turn);
    if (next === undefined) {
      turn.busy = false;
      return;
    }
    // undici frees a connection one loop turn after its response ended (a setImmediate queued
    // after this call returns, to see whether the upstream closes it after all); dispatching
    // before that would open a second connection. Two turns, for pipelined requests only.
    const { req: nextReq, res, route } = next;
    setImmediate(() => setImmediate(() => this.#dispatch(nextReq, res, route)));
  }
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

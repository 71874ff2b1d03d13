import net from 'node:net';
import type { AdminConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import {
  CLIENT_ERRORS,
  createRequestParser,
  encodeReply,
  errorReply,
  MAX_REQUEST_BYTES,
  REQUEST_TIMEOUT_MS,
} from './admin-protocol.ts';
import type { AdminReply } from './admin-protocol.ts';
import type { CommandOutcome, RunCommand } from './commands.ts';
import { getPeerCredentials } from './peer-cred.ts';
import type { PeerCredentials } from './peer-cred.ts';
import { readRequestLine } from './read-request-line.ts';
import { listenUnixSocket } from './unix-listener.ts';

export interface AdminServerDeps {
  readonly config: AdminConfig;
  readonly run: RunCommand;
  readonly log: Logger;
  /** ADMIN_SOCKET_TOKEN as read once at start; undefined or '' means no token (seed S4). */
  readonly token?: string | undefined;
  /** The uid the proxy runs as; with 0 the default allow-list when admin.allowed_uids is empty. */
  readonly ownUid: number;
}

export interface AdminServer {
  readonly path: string;
  readonly mode: number;
  /** True when start-up removed a socket left behind by a dead process. */
  readonly removedStale: boolean;
  readonly listening: boolean;
  /** Stops accepting, cuts open connections, removes the socket if it is still ours. */
  close(): void;
}

// How long a client may take to hang up after the reply (or to stop sending); it keeps its
// connection slot meanwhile.
const REPLY_DEADLINE_MS = 1_000;

/** Commands whose name the audit record may carry (anything else is never echoed: C3). */
const KNOWN_COMMANDS = new Set(['status', 'reload', 'endpoints']);
/**
 * The admin socket (seed C2, W1, S1, S2, S4, review #004). Per connection, in this order:
 * peer credentials (refuse unless allowed), the concurrency cap (excess closed at once, not
 * queued), one bounded line within the deadline, the token, the command; one JSON line back,
 * then close; one audit line per connection. No socket error reaches the process.
 */
export async function startAdminServer(deps: AdminServerDeps): Promise<AdminServer> {
  const { config, log } = deps;
  const allowed = new Set(config.allowed_uids.length > 0 ? config.allowed_uids : [deps.ownUid, 0]);
  const parse = createRequestParser(deps.token);
  const open = new Set<net.Socket>();
  let closing = false;

  // allowHalfOpen: a client may send its line and half-close (`printf status | socat`); we
  // still owe it the reply.
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  server.on('error', (err) => log.error({ err }, 'admin socket error'));
  server.on('connection', (socket) => {
    socket.on('error', (err) => log.debug({ err }, 'admin connection error'));
    if (closing) {
      socket.destroy();
      return;
    }
    let peer: PeerCredentials;
    try {
      peer = getPeerCredentials(socket);
    } catch (err) {
      log.warn(
        { outcome: 'refused', err: String(err) },
        'admin connection refused: peer credentials unreadable',
      );
      socket.destroy();
      return;
    }
    if (!allowed.has(peer.uid)) {
      log.warn(
        { peer, outcome: 'refused' },
        `admin connection refused: uid ${peer.uid} is not allowed`,
      );
      respond(socket, errorReply(CLIENT_ERRORS.forbidden));
      return;
    }
    // Our own counter, not server.maxConnections: that one drops silently, and refused peers
    // above must not use up slots meant for allowed ones.
    if (open.size >= config.max_connections) {
      log.warn(
        { peer, outcome: 'over_limit', max_connections: config.max_connections },
        'admin connection dropped: too many concurrent admin connections',
      );
      socket.destroy();
      return;
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    void serve(socket, peer);
  });

  const serve = async (socket: net.Socket, peer: PeerCredentials): Promise<void> => {
    socket.resume();
    const read = await readRequestLine(socket, MAX_REQUEST_BYTES, REQUEST_TIMEOUT_MS);
    const audit = (level: 'info' | 'warn', fields: Record<string, unknown>) =>
      log[level]({ peer, ...fields }, 'admin request');
    if ('failure' in read) {
      audit('warn', { command: null, outcome: read.failure });
      if (read.failure === 'too_long') respond(socket, errorReply(CLIENT_ERRORS.tooLong));
      else if (read.failure === 'timeout') respond(socket, errorReply(CLIENT_ERRORS.timeout));
      else socket.destroy();
      return;
    }
    const request = parse(read.line);
    if ('unauthorized' in request) {
      // Neither the line nor any part of it is logged: it may be a near miss of the token.
      audit('warn', { command: null, outcome: 'unauthorized' });
      respond(socket, errorReply(CLIENT_ERRORS.unauthorized));
      return;
    }
    const known = KNOWN_COMMANDS.has(request.command);
    const trigger = `admin socket (uid ${peer.uid}, pid ${peer.pid})`;
    let result: CommandOutcome;
    try {
      result = await deps.run(request.command, trigger);
    } catch (err) {
      log.error({ err, peer }, 'admin command failed unexpectedly');
      result = { outcome: 'error', reply: errorReply(CLIENT_ERRORS.reloadFailed), audit: {} };
    }
    // Unknown input is neither echoed nor logged (C3): only its length, for diagnosis.
    audit(result.outcome === 'ok' ? 'info' : 'warn', {
      command: known ? request.command : null,
      ...(known ? {} : { bytes: Buffer.byteLength(request.command) }),
      outcome: result.outcome,
      ...result.audit,
    });
    respond(socket, result.reply);
  };

  const listener = await listenUnixSocket(server, config.socket, { group: config.socket_group });
  return {
    path: config.socket,
    mode: listener.mode,
    removedStale: listener.removedStale,
    get listening() {
      return !closing && listener.listening;
    },
    close() {
      closing = true;
      for (const socket of open) socket.destroy();
      if (listener.close() === 'left-alone') {
        log.warn(
          { socket: config.socket },
          'admin socket path no longer holds our socket; left it alone',
        );
      }
    },
  };
}

/**
 * One JSON line, then close. Whatever else the client sends is read and dropped: closing a Unix
 * socket with unread data makes the kernel reset the peer, which could then lose the reply.
 * The socket closes when the client hangs up (both sides ended), or after a short deadline.
 */
function respond(socket: net.Socket, reply: AdminReply): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), REPLY_DEADLINE_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
  socket.end(encodeReply(reply));
}

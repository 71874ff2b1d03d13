import net from 'node:net';
import { isProxyError, ProxyError } from '../errors.ts';
import type { AdminReply } from './admin-protocol.ts';
import { assertServerUid } from './peer-cred.ts';

export interface AdminRequest {
  readonly socketPath: string;
  readonly command: string;
  /** ADMIN_SOCKET_TOKEN; sent as `<token>:<command>` when set. */
  readonly token?: string | undefined;
  /** Uids allowed to serve the socket; checked before a single byte is sent. */
  readonly expectedUids: readonly number[];
  readonly timeoutMs: number;
}

/**
 * The command that makes the proxy re-read --endpoints-file (the sidecar after EndpointSlice
 * changes, `ctl endpoints` by hand): endpoints only, never a config revision.
 */
export const ENDPOINTS_COMMAND = 'endpoints';

// A reply is one short JSON line; anything longer is not our server.
const MAX_REPLY_BYTES = 64 * 1024;

/**
 * Sends one command over the admin socket and returns the reply, for `ctl` and the sidecar.
 * Throws ProxyError: ERR_ADMIN_UNREACHABLE (no socket, refused, timeout: worth a retry),
 * ERR_ADMIN_SERVER_UNTRUSTED (served by an unexpected uid, or its uid cannot be read: nothing
 * was sent), ERR_ADMIN_PROTOCOL (closed without a reply, or not one JSON object line).
 */
/**
 * Who a client expects to serve the socket unless told otherwise: its own effective uid, or
 * root. A proxy running as anyone else gets nothing, not even the token.
 */
export function defaultServerUids(): number[] {
  const uid = process.geteuid?.();
  return uid === undefined || uid === 0 ? [0] : [uid, 0];
}

export function sendAdminCommand(request: AdminRequest): Promise<AdminReply> {
  const { socketPath, command, token, expectedUids, timeoutMs } = request;
  if (/[\r\n]/.test(command) || (token !== undefined && /[\r\n]/.test(token))) {
    return Promise.reject(new RangeError('admin command and token must be single-line'));
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (outcome: { reply: AdminReply } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if ('reply' in outcome) resolve(outcome.reply);
      else reject(outcome.error);
    };
    const timer = setTimeout(
      () =>
        settle({
          error: new ProxyError(
            'ERR_ADMIN_UNREACHABLE',
            `admin socket ${socketPath} did not answer within ${timeoutMs} ms`,
          ),
        }),
      timeoutMs,
    );
    socket.on('connect', () => {
      try {
        // Before writing anything: a socket planted by another user gets neither the command
        // nor the token.
        assertServerUid(socket, expectedUids);
      } catch (err) {
        const error =
          isProxyError(err) && err.code === 'ERR_ADMIN_SERVER_UNTRUSTED'
            ? err
            : new ProxyError(
                'ERR_ADMIN_SERVER_UNTRUSTED',
                `cannot verify who serves admin socket ${socketPath} (${String(err)}); not sending anything`,
                { cause: err },
              );
        settle({ error });
        return;
      }
      socket.write(`${token === undefined || token === '' ? '' : `${token}:`}${command}\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a);
      chunks.push(newline === -1 ? chunk : chunk.subarray(0, newline));
      size += chunk.length;
      if (newline !== -1) settle(parseReply(Buffer.concat(chunks).toString('utf8'), socketPath));
      else if (size > MAX_REPLY_BYTES)
        settle({ error: protocolError(socketPath, 'an over-long reply') });
    });
    socket.on('end', () => {
      settle(
        size === 0
          ? { error: closedWithoutReply(socketPath) }
          : parseReply(Buffer.concat(chunks).toString('utf8'), socketPath),
      );
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server closes right after its reply; a reset after a complete line changes nothing,
      // and settle() ignores it then.
      if (socket.connecting || err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        settle({
          error: new ProxyError(
            'ERR_ADMIN_UNREACHABLE',
            `cannot connect to admin socket ${socketPath}: ${err.code ?? err.message}`,
            { cause: err },
          ),
        });
      } else {
        settle({ error: closedWithoutReply(socketPath, err.code) });
      }
    });
  });
}

function parseReply(line: string, socketPath: string): { reply: AdminReply } | { error: Error } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: protocolError(socketPath, 'a reply that is not JSON') };
  }
  if (
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    !['ok', 'error'].includes((value as { status?: unknown }).status as string)
  ) {
    return { error: protocolError(socketPath, 'a JSON reply without "status": "ok" or "error"') };
  }
  return { reply: value as AdminReply };
}

function protocolError(socketPath: string, what: string): ProxyError {
  return new ProxyError('ERR_ADMIN_PROTOCOL', `admin socket ${socketPath} sent ${what}`);
}

function closedWithoutReply(socketPath: string, code?: string): ProxyError {
  return new ProxyError(
    'ERR_ADMIN_PROTOCOL',
    `admin socket ${socketPath} closed the connection without a reply${code ? ` (${code})` : ''}; ` +
      'the proxy may be at admin.max_connections or shutting down, see its log',
  );
}

import { parseArgs } from 'node:util';
import { defaultServerUids, sendAdminCommand } from '../admin/admin-client.ts';
import { TOKEN_ENV } from '../admin/admin-protocol.ts';
import { isProxyError } from '../errors.ts';

export const DEFAULT_ADMIN_SOCKET = '/run/reverse-proxy/admin.sock';
/**
 * Where the socket lives when it is not at the default path (the Helm chart puts it in a
 * 0700 subdirectory of the pod's emptyDir): `kubectl exec ... -- reverse-proxy ctl reload`
 * then works without flags.
 */
export const SOCKET_ENV = 'REVERSE_PROXY_ADMIN_SOCKET';
const DEFAULT_TIMEOUT_MS = 10_000;
const COMMANDS = ['reload', 'status', 'endpoints'];

/** Exit codes of `ctl`: scripts can tell "the proxy said no" from "no proxy to ask". */
export const CTL_EXIT = {
  ok: 0,
  errorReply: 1,
  usage: 2,
  unreachable: 3,
  untrusted: 4,
} as const;

/** Thrown for a command line `ctl` cannot run; cli.ts prints it with the usage hint, exit 2. */
export class CtlUsageError extends Error {}

/**
 * `reverse-proxy ctl [-s SOCKET] [-c CONFIG] [--expect-uid UID] [--timeout MS] reload|status|endpoints`:
 * prints the proxy's JSON reply on stdout. Exit 0 only on "status":"ok", 1 on an error reply,
 * 3 when the socket cannot be reached or answers nonsense, 4 when it is served by an
 * unexpected uid (nothing was sent).
 */
export async function runCtl(args: string[]): Promise<number> {
  const options = parseCtlArgs(args);
  let socketPath = options.socket;
  if (socketPath === undefined && options.config !== undefined) {
    socketPath = await socketFromConfig(options.config);
    if (socketPath === undefined) return CTL_EXIT.usage;
  }
  try {
    const reply = await sendAdminCommand({
      socketPath: socketPath ?? defaultSocket(),
      command: options.command,
      token: process.env[TOKEN_ENV],
      expectedUids: options.expectUid === undefined ? defaultServerUids() : [options.expectUid],
      timeoutMs: options.timeoutMs,
    });
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    return reply.status === 'ok' ? CTL_EXIT.ok : CTL_EXIT.errorReply;
  } catch (err) {
    if (!isProxyError(err)) throw err;
    process.stderr.write(`reverse-proxy ctl: ${err.message} (${err.code})\n`);
    return err.code === 'ERR_ADMIN_SERVER_UNTRUSTED' ? CTL_EXIT.untrusted : CTL_EXIT.unreachable;
  }
}

/** -s, then -c, then $REVERSE_PROXY_ADMIN_SOCKET, then the default path. */
function defaultSocket(): string {
  const fromEnv = process.env[SOCKET_ENV];
  return fromEnv === undefined || fromEnv === '' ? DEFAULT_ADMIN_SOCKET : fromEnv;
}

async function socketFromConfig(configPath: string): Promise<string | undefined> {
  // Loaded only with -c: the config code (joi, yaml) is most of ctl's start-up time otherwise.
  const { loadConfigBytes } = await import('../config/load.ts');
  const { checkConfigBytes } = await import('../config/check.ts');
  try {
    const file = await loadConfigBytes(configPath);
    // ctl only reads admin.socket: a wildcard listener that serve accepted must not stop it.
    const config = checkConfigBytes(file.bytes, configPath, { allowWildcardBind: true });
    if (config.admin.socket === '') {
      process.stderr.write(`reverse-proxy ctl: ${configPath} disables the admin socket\n`);
      return undefined;
    }
    return config.admin.socket;
  } catch (err) {
    if (!isProxyError(err)) throw err;
    process.stderr.write(`reverse-proxy ctl: cannot read ${configPath}: ${err.message}\n`);
    return undefined;
  }
}

interface CtlOptions {
  readonly command: string;
  readonly socket?: string | undefined;
  readonly config?: string | undefined;
  readonly expectUid?: number | undefined;
  readonly timeoutMs: number;
}

function parseCtlArgs(args: string[]): CtlOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        socket: { type: 'string', short: 's' },
        config: { type: 'string', short: 'c' },
        'expect-uid': { type: 'string' },
        timeout: { type: 'string' },
      },
    });
  } catch (err) {
    throw new CtlUsageError(`ctl: ${(err as Error).message}`);
  }
  const [command, ...extra] = parsed.positionals;
  if (command === undefined || !COMMANDS.includes(command) || extra.length > 0) {
    throw new CtlUsageError(`ctl: expected one command, ${COMMANDS.join(' or ')}`);
  }
  const { socket, config } = parsed.values;
  if (socket === '' || config === '') throw new CtlUsageError('ctl: -s and -c need a value');
  return {
    command,
    socket,
    config,
    expectUid: integerFlag('--expect-uid', parsed.values['expect-uid'], 0, 0xfffffffe),
    timeoutMs: integerFlag('--timeout', parsed.values.timeout, 1, 3_600_000) ?? DEFAULT_TIMEOUT_MS,
  };
}

function integerFlag(name: string, text: string | undefined, min: number, max: number) {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new CtlUsageError(`ctl: ${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

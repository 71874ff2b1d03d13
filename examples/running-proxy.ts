import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { NetConnectOpts } from 'node:net';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { isWildcardHost, parseListenAddress } from '../src/config/address.ts';

/**
 * Why `npm start` must not go on in this checkout, or undefined when nothing is in its way.
 * Asked before the build and before run/proxy.yaml is written: a second start used to rewrite
 * both under the running proxy, and only then fail on the busy port.
 */
export async function findRunningProxy(root: string): Promise<string | undefined> {
  const socket = join(root, 'run', 'admin.sock');
  // A socket file left by a proxy that crashed refuses the connection: not running.
  if (await accepts({ path: socket })) {
    return (
      `a proxy is already running from this checkout (${relative(root, socket)} answers). ` +
      'Stop it first: Ctrl-C where it runs, or kill -TERM the pid in its log lines.'
    );
  }
  for (const { address, key } of await exampleAddresses(root)) {
    const parsed = parseListenAddress(address);
    if ('error' in parsed || parsed.port === 0) continue;
    const host = isWildcardHost(parsed.host)
      ? parsed.host.includes(':')
        ? '::1'
        : '127.0.0.1'
      : parsed.host;
    if (await accepts({ host, port: parsed.port })) {
      return (
        `${address} (${key} in examples/proxy.yaml) is in use: another "npm start" or another ` +
        'program listens there. Stop it first, or change the address in examples/proxy.yaml.'
      );
    }
  }
  return undefined;
}

/** Writes why and exits 1 when findRunningProxy finds something; nothing was touched yet. */
export async function refuseIfRunning(root: string): Promise<void> {
  const reason = await findRunningProxy(root);
  if (reason === undefined) return;
  process.stderr.write(`npm start: ${reason} Nothing was changed (run/proxy.yaml, dist/).\n`);
  process.exit(1);
}

/** The addresses the example's proxy will bind; a file that does not parse is left to start. */
async function exampleAddresses(root: string): Promise<{ address: string; key: string }[]> {
  let config: unknown;
  try {
    config = parse(await readFile(join(root, 'examples', 'proxy.yaml'), 'utf8'));
  } catch {
    return [];
  }
  const { listeners, health } = (config ?? {}) as { listeners?: unknown; health?: unknown };
  const found: { address: string; key: string }[] = [];
  if (Array.isArray(listeners)) {
    listeners.forEach((l: { address?: unknown } | null, i) => {
      if (typeof l?.address === 'string')
        found.push({ address: l.address, key: `listeners[${i}]` });
    });
  }
  const healthAddress = (health as { address?: unknown } | null)?.address;
  if (typeof healthAddress === 'string') found.push({ address: healthAddress, key: 'health' });
  return found;
}

/** True when something accepts a connection there within a second. */
function accepts(options: NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(options);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

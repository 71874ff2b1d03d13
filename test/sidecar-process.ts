import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI, request } from './helpers.ts';
import type { ProxyProcess } from './helpers.ts';
import { watchJsonLog } from './json-log.ts';
import type { JsonLog } from './json-log.ts';

export interface SidecarProcess extends JsonLog {
  readonly child: ChildProcess;
  /** `http://host:port` of the sidecar's /livez, /readyz, /metrics. */
  readonly healthUrl: string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Spawns `reverse-proxy sidecar ARGS` and waits for its "sidecar started" line. */
export async function startSidecarProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<SidecarProcess> {
  const child = spawn(process.execPath, [CLI, 'sidecar', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No in-cluster variables leak in from the host; KUBECONFIG comes from the test.
    env: { PATH: process.env.PATH, ...env },
  });
  const { logs, stderr, waitForLog } = watchJsonLog(child, 'sidecar');
  const exited = once(child, 'exit');
  const started = await Promise.race([
    waitForLog((l) => l.msg === 'sidecar started', { includePast: true }),
    exited.then(([code]) => {
      throw new Error(`sidecar exited with ${code} before starting: ${stderr()}`);
    }),
  ]);
  return {
    child,
    healthUrl: `http://${String(started.health)}`,
    logs,
    stderr,
    waitForLog,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not within ${timeoutMs} ms${lastError ? ` (${String(lastError)})` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Which upstream serves `/` through the proxy right now (its first word), or undefined. */
export async function servedBy(proxy: ProxyProcess): Promise<string | undefined> {
  try {
    const reply = await request(`${proxy.url}/`, { host: 'any.example' });
    return reply.status === 200 ? reply.body.split(' ')[0] : undefined;
  } catch {
    return undefined;
  }
}

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI } from './helpers.ts';
import type { LogLine } from './helpers.ts';

export interface SidecarProcess {
  readonly child: ChildProcess;
  /** `http://host:port` of the sidecar's /livez, /readyz, /metrics. */
  readonly healthUrl: string;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  /** The first log line matching, from now on or (includePast) also among past lines. */
  waitForLog(
    match: (line: LogLine) => boolean,
    options?: { timeoutMs?: number; includePast?: boolean },
  ): Promise<LogLine>;
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
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const text = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      logs.push(line);
      for (const waiter of waiters) {
        if (waiter.match(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  const exited = once(child, 'exit');
  const waitForLog = (
    match: (line: LogLine) => boolean,
    { timeoutMs = 10_000, includePast = false } = {},
  ) =>
    new Promise<LogLine>((resolve, reject) => {
      const past = includePast ? logs.find(match) : undefined;
      if (past !== undefined) return resolve(past);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching sidecar log line within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.add(waiter);
    });
  const started = await Promise.race([
    waitForLog((l) => l.msg === 'sidecar started', { includePast: true }),
    exited.then(([code]) => {
      throw new Error(`sidecar exited with ${code} before starting: ${stderr}`);
    }),
  ]);
  return {
    child,
    healthUrl: `http://${String(started.health)}`,
    logs,
    stderr: () => stderr,
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

import type { ChildProcess } from 'node:child_process';

/** One JSON log line of a child process (a non-JSON line becomes `{ msg: text }`). */
export interface LogLine {
  readonly msg?: string;
  readonly level?: string;
  readonly [key: string]: unknown;
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  /** Also match lines already received, not only lines from now on. */
  readonly includePast?: boolean;
}

/** What a test can ask of a child's log. */
export interface JsonLog {
  readonly logs: LogLine[];
  readonly stderr: () => string;
  waitForLog(match: (line: LogLine) => boolean, options?: WaitOptions): Promise<LogLine>;
}

/**
 * Collects a child's stdout as JSON lines (what every reverse-proxy role logs) and its stderr
 * as text, and lets a test wait for a matching line.
 */
export function watchJsonLog(child: ChildProcess, name: string): JsonLog {
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
  const waitForLog = (
    match: (line: LogLine) => boolean,
    { timeoutMs = 10_000, includePast = false }: WaitOptions = {},
  ) =>
    new Promise<LogLine>((resolve, reject) => {
      const past = includePast ? logs.find(match) : undefined;
      if (past !== undefined) return resolve(past);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching ${name} log line within ${timeoutMs} ms; stderr: ${stderr}`));
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
  return { logs, stderr: () => stderr, waitForLog };
}

import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

/** Every process the benchmark started, so that it can stop them all, and only them, by PID. */
const started = new Set<ChildProcess>();

/** Spawns `command` pinned to one CPU with taskset; stdout/stderr go to the given callbacks. */
export function spawnPinned(
  cpu: number | string,
  command: string,
  args: readonly string[],
  onStdout?: (chunk: string) => void,
): ChildProcess {
  const child = spawn('taskset', ['-c', String(cpu), command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  child.stdout?.setEncoding('utf8').on('data', (c: string) => onStdout?.(c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    if (process.env.BENCH_DEBUG !== undefined) process.stderr.write(c);
  });
  return child;
}

/**
 * Runs a load tool to completion pinned to CPU 0 (with the upstream), killed if it outlives
 * its own `seconds` by 20 s; resolves with its stdout.
 */
export function runPinned(
  command: string,
  args: readonly string[],
  seconds: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'taskset',
      ['-c', '0', command, ...args],
      { timeout: (seconds + 20) * 1000, killSignal: 'SIGKILL' },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((c) => stopChild(c)));
}

/**
 * Last-resort cleanup on Ctrl-C or a crash: synchronous SIGKILL by PID, then `cleanup` (which
 * must be synchronous too: removing the temporary directory).
 */
export function installTraps(cleanup: () => void): void {
  const killNow = () => {
    for (const child of started) {
      // nginx's workers outlive a SIGKILLed master: take them first.
      for (const pid of childPids(child.pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      child.kill('SIGKILL');
    }
    cleanup();
  };
  process.once('exit', killNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killNow();
      process.exit(130);
    });
  }
}

/** Resident set size of one process in bytes (0 when it is gone). */
export function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in seconds (clock ticks of 1/100 s). */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command's closing paren: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The PIDs of a process's direct children (nginx's workers). */
export function childPids(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

/** This process's open-files limit (RLIMIT_NOFILE, soft), which its children inherit. */
export function openFilesLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  return Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? 0);
}

/**
 * Raises RLIMIT_NOFILE of this process (its children inherit it) when it can: with prlimit,
 * which needs CAP_SYS_RESOURCE beyond the hard limit (Node itself raises the soft limit to the
 * hard one at start). Returns the limit now in force.
 */
export function raiseNofile(want: number): number {
  if (openFilesLimit() < want) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], {
        stdio: 'ignore',
      });
    } catch {
      // not root: the caller says what to do
    }
  }
  return openFilesLimit();
}

/**
 * The proxy under fuzzing (bench/fuzz.ts): its config, with client and route timeouts short
 * enough that every exchange ends within seconds; its process, started from any build's cli.js
 * and stopped by PID; its log (error lines counted, the last lines kept for a crash report);
 * and its RSS, sampled every second.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { shebangNodeFlags } from '../src/node-flags.ts';
import { rssOf } from './children.ts';
import { FUZZ_HOST, HOSTILE_PREFIX } from './fuzz-requests.ts';

/**
 * The shortest timeouts the config accepts for a client (1 s; request_timeout_ms is the
 * headers' and body's together), and 2 s for the upstreams, so that a stalled exchange costs
 * seconds. Node checks the client deadlines once a second (connectionsCheckingInterval), so
 * each fires up to 1 s late.
 */
export const TIMEOUTS = {
  headerMs: 1_000,
  bodyIdleMs: 1_000,
  requestMs: 2_000,
  keepAliveMs: 1_000,
  connectMs: 1_000,
  responseMs: 2_000,
  idleMs: 2_000,
} as const;

/** The proxy checks its client deadlines on this interval, so they fire up to this late. */
const CHECK_INTERVAL_MS = 1_000;
/** Node waits this long past keepAliveTimeout before it closes an idle connection. */
const KEEPALIVE_BUFFER_MS = 1_000;
/** For a 2-core machine shared with other work, and a fuzzer that is busy itself. */
const MARGIN_MS = 3_000;

/**
 * Phase 1's bound, from the last write to the end of the exchange: the longest a request may
 * hold its connection (the whole-request deadline, or an upstream that does not answer), plus
 * the late check, then the keep-alive close after the last response, then the margin.
 */
export const REQUEST_BOUND_MS =
  Math.max(TIMEOUTS.requestMs + CHECK_INTERVAL_MS, TIMEOUTS.responseMs) +
  TIMEOUTS.keepAliveMs +
  KEEPALIVE_BUFFER_MS +
  MARGIN_MS;

/**
 * Phase 2's bound per request, from the last write or the previous answer: the upstream's
 * response timeout (no head) plus its idle timeout (a body that stops), plus the margin.
 */
export const RESPONSE_BOUND_MS = TIMEOUTS.responseMs + TIMEOUTS.idleMs + MARGIN_MS;

/**
 * Two routes: `/` to the recording upstream (and `/rules/` through header rules), `/hostile/`
 * to the hostile one (and `/hostile/rules/`). Passive health is off: the hostile upstream
 * fails on purpose, and an ejected upstream would turn phase 2 into 503s that never reach it.
 */
export function fuzzConfig(recordingUrl: string, hostileUrl: string): string {
  const route = (path: string, url: string, rules: boolean) => [
    `      - path: ${path}`,
    `        upstream: "${url}"`,
    `        timeouts: { connect_ms: ${TIMEOUTS.connectMs}, response_ms: ${TIMEOUTS.responseMs}, idle_ms: ${TIMEOUTS.idleMs} }`,
    '        passive_health: { consecutive_failures: 0 }',
    ...(rules
      ? [
          '        request_headers: { set: { X-Env: fuzz }, add: { X-Added: "1" }, remove: [X-Debug] }',
          '        response_headers:',
          '          set: { Strict-Transport-Security: max-age=63072000 }',
          '          add: { X-Via-Rules: "1" }',
          '          remove: [X-Powered-By, Set-Cookie]',
        ]
      : []),
  ];
  return `${[
    'listeners:',
    '  - address: 127.0.0.1:0',
    'admin:',
    "  socket: ''",
    'health:',
    '  address: 127.0.0.1:0',
    'client:',
    `  header_timeout_ms: ${TIMEOUTS.headerMs}`,
    `  body_idle_timeout_ms: ${TIMEOUTS.bodyIdleMs}`,
    `  request_timeout_ms: ${TIMEOUTS.requestMs}`,
    `  keepalive_timeout_ms: ${TIMEOUTS.keepAliveMs}`,
    'shutdown:',
    '  grace_period_ms: 1000',
    'log:',
    '  level: info',
    '  access_log: false',
    'sites:',
    '  - name: fuzz',
    `    hosts: [${FUZZ_HOST}, "*.${FUZZ_HOST}"]`,
    '    routes:',
    ...route('/', recordingUrl, false),
    ...route('/rules/', recordingUrl, true),
    ...route(HOSTILE_PREFIX, hostileUrl, false),
    ...route(`${HOSTILE_PREFIX}rules/`, hostileUrl, true),
  ].join('\n')}\n`;
}

/** Lines of the proxy's output kept for a crash report. */
const TAIL_LINES = 60;
const KEEP_ERROR_LINES = 10;

export interface ProxyUnderFuzz {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Set once the process exited: how. */
  exit(): string | undefined;
  /** Resolves when the process exits. */
  readonly exited: Promise<unknown>;
  /** The last lines it wrote (stdout and stderr). */
  tail(): string[];
  /** Log lines at level error or fatal: how many, and the first few. */
  readonly errors: { count: number; readonly first: string[] };
  stop(): Promise<void>;
}

/** Every process the fuzzer started, killed by PID if the fuzzer dies first. */
const started = new Set<ChildProcess>();

/** On exit or a signal, SIGKILL the fuzzer's own children (by PID) and run `cleanup`. */
export function installTraps(cleanup: () => void): void {
  const killNow = () => {
    for (const child of started) child.kill('SIGKILL');
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

/** FUZZ_NODE_FLAGS: more flags for the proxy's node, as BENCH_NODE_FLAGS for the benchmark. */
function extraNodeFlags(): string[] {
  return (process.env.FUZZ_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
}

/** Starts `node [shebang flags] cli serve -c config`; resolves once it says it started. */
export async function startProxy(cli: string, configPath: string): Promise<ProxyUnderFuzz> {
  const child = spawn(
    process.execPath,
    [...shebangNodeFlags(cli), ...extraNodeFlags(), cli, 'serve', '-c', configPath],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.add(child);
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    started.delete(child);
    exit = signal === null ? `exit code ${code}` : `signal ${signal}`;
  });
  const tail: string[] = [];
  const errors = { count: 0, first: [] as string[] };
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  let onStarted: (line: Record<string, unknown>) => void = () => undefined;
  const startedLine = new Promise<Record<string, unknown>>((resolve) => (onStarted = resolve));
  lines(child.stdout, (text) => {
    keep(text);
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    // pino's levels: 50 error, 60 fatal. The proxy logs failed upstream exchanges as warnings.
    if (typeof line.level === 'number' && line.level >= 50) {
      errors.count++;
      if (errors.first.length < KEEP_ERROR_LINES) errors.first.push(text);
    }
    if (line.msg === 'proxy started') onStarted(line);
  });
  lines(child.stderr, keep);
  const exited = once(child, 'exit');
  const line = await Promise.race([
    startedLine,
    exited.then(() => {
      throw new Error(`the proxy exited before starting (${exit}):\n${tail.join('\n')}`);
    }),
  ]);
  const listener = String((line.listeners as string[])[0]);
  return {
    child,
    pid: child.pid as number,
    port: Number(listener.slice(listener.lastIndexOf(':') + 1)),
    exit: () => exit,
    exited,
    tail: () => [...tail],
    errors,
    stop: () => stopChild(child),
  };
}

function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let pending = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** VmRSS of one process, every second, from /proc/PID/status (bench/children.ts). */
export class RssSampler {
  readonly start: number;
  peak: number;
  last: number;
  /** [seconds since the start, bytes], one a second. */
  readonly series: [number, number][] = [];
  #pid: number;
  readonly #began = Date.now();
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.#pid = pid;
    this.start = this.peak = this.last = rssOf(pid);
    this.#timer = setInterval(() => {
      this.series.push([Math.round((Date.now() - this.#began) / 1000), this.sample()]);
    }, 1_000);
  }

  sample(): number {
    const rss = rssOf(this.#pid);
    if (rss > 0) {
      this.last = rss;
      this.peak = Math.max(this.peak, rss);
    }
    return rss;
  }

  /** Samples another process from now on: the proxy started again (`--keep-going`). */
  follow(pid: number): void {
    this.#pid = pid;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPinned } from './children.ts';

/** One wrk run, as its Lua `done` hook reports it. Latencies in microseconds. */
export interface WrkResult {
  readonly requests: number;
  readonly durationUs: number;
  readonly rps: number;
  /** Socket errors (connect, read, write, timeout) and responses with status >= 400. */
  readonly socketErrors: number;
  readonly statusErrors: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

const REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

/** A 1 MB POST body, sent with Content-Length; each proxy streams it to the upstream's sink. */
const POST_1MB = `
wrk.method = "POST"
wrk.body = string.rep("x", 1024 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
`;

export interface WrkOptions {
  readonly url: string;
  readonly host: string;
  readonly connections: number;
  readonly seconds: number;
  readonly post1m?: boolean;
  /** More request headers, such as `Connection: close` (one TLS handshake per request). */
  readonly headers?: readonly string[];
}

/** Writes the two Lua scripts into `dir` once. */
export async function writeWrkScripts(dir: string): Promise<void> {
  await writeFile(join(dir, 'report.lua'), REPORT);
  await writeFile(join(dir, 'post.lua'), POST_1MB + REPORT);
}

/** Runs wrk pinned to CPU 0 (with the upstream); bounded by its own -d plus a margin. */
export function runWrk(wrk: string, dir: string, options: WrkOptions): Promise<WrkResult> {
  const threads = Math.min(2, options.connections);
  const args = [
    '-t',
    String(threads),
    '-c',
    String(options.connections),
    '-d',
    `${options.seconds}s`,
    // Long enough that a slow request counts in the latency histogram instead of vanishing
    // into wrk's timeout counter.
    '--timeout',
    '10s',
    '-H',
    `Host: ${options.host}`,
    ...(options.headers ?? []).flatMap((h) => ['-H', h]),
    '-s',
    join(dir, options.post1m === true ? 'post.lua' : 'report.lua'),
    options.url,
  ];
  return runPinned(wrk, args, options.seconds).then((stdout) => {
    const line = /^WRK_JSON (.*)$/m.exec(stdout)?.[1];
    if (line === undefined) throw new Error(`no report from wrk: ${stdout}`);
    const r = JSON.parse(line) as Record<string, number>;
    const n = (k: string) => r[k] ?? 0;
    return {
      requests: n('requests'),
      durationUs: n('duration'),
      rps: n('requests') / (n('duration') / 1e6),
      socketErrors: n('connect') + n('read') + n('write') + n('timeout'),
      statusErrors: n('status'),
      p50Us: n('p50'),
      p99Us: n('p99'),
      maxUs: n('max'),
    };
  });
}

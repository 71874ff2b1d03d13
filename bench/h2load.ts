import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runPinned } from './children.ts';
import type { WrkResult } from './wrk.ts';

export interface H2loadOptions {
  /** https://HOST:PORT/PATH: HOST is sent as :authority and SNI; the TCP connection goes to `connectTo`. */
  readonly url: string;
  readonly connectTo: string;
  readonly connections: number;
  readonly streams: number;
  readonly seconds: number;
}

/**
 * One h2load run (nghttp2-client) pinned to CPU 0, like wrk: HTTP/2 over TLS (ALPN h2),
 * `streams` concurrent streams on each connection, for `seconds`. Latencies come from its
 * per-request log (`--log-file`), so p50 and p99 mean what they mean for wrk.
 */
export function runH2load(h2load: string, dir: string, options: H2loadOptions): Promise<WrkResult> {
  const log = join(dir, `h2load-${process.hrtime.bigint()}.tsv`);
  const args = [
    '-t',
    '1',
    '-c',
    String(options.connections),
    '-m',
    String(options.streams),
    '-D',
    String(options.seconds),
    `--connect-to=${options.connectTo}`,
    `--log-file=${log}`,
    options.url,
  ];
  return runPinned(h2load, args, options.seconds).then((stdout) => parse(stdout, log));
}

async function parse(stdout: string, log: string): Promise<WrkResult> {
  const finished = /finished in ([\d.]+)(m?s)/.exec(stdout);
  const req =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      stdout,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (finished === null || req === null || codes === null) {
    throw new Error(`no report from h2load: ${stdout}`);
  }
  const durationUs = Number(finished[1]) * (finished[2] === 'ms' ? 1e3 : 1e6);
  const done = Number(req[3]);
  const latencies = (await readFile(log, 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => Number(line.split('\t')[2]))
    .filter((v) => Number.isFinite(v) && v > 0)
    .sort((a, b) => a - b);
  await rm(log, { force: true });
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return {
    requests: done,
    durationUs,
    rps: done / (durationUs / 1e6),
    socketErrors: Number(req[6]) + Number(req[7]),
    statusErrors: Number(codes[3]) + Number(codes[4]),
    p50Us: pct(0.5),
    p99Us: pct(0.99),
    maxUs: latencies.at(-1) ?? 0,
  };
}

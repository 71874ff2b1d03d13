/**
 * The cost of idle keep-alive connections (issue 17): `count` connections to one system, each
 * making one GET of /2k, reading the response and then staying open, idle. The client is
 * bench/hostile-attack.ts in a process of its own, pinned to the load CPU, so that its
 * descriptors are not the benchmark's. The system's RSS is read before they open and once
 * they are all held; the difference over the connections still open is the cost of one.
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnPinned, stopChild } from './children.ts';
import type { AttackReport } from './hostile-attack.ts';
import type { AttackPlan } from './hostile-clients.ts';
import { BENCH_HOST } from './proxy.ts';
import type { IdleResult } from './results.ts';
import { median } from './stats.ts';

/** RSS read five times, 200 ms apart: the median, so that one GC in between does not decide. */
async function settledRss(rss: () => number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await sleep(200);
    samples.push(rss());
  }
  return median(samples);
}

/**
 * Opens the idle connections to 127.0.0.1:`port` (250 at a time), measures, closes them.
 * `rss` reads the system's resident memory (for nginx, its worker's).
 */
export async function idleCost(
  port: number,
  count: number,
  cpu: number,
  rss: () => number,
): Promise<IdleResult> {
  const plan: AttackPlan = {
    port,
    count,
    batch: 250,
    opening: `GET /2k HTTP/1.1\r\nHost: ${BENCH_HOST}\r\n\r\n`,
    awaitResponse: true,
    stepTimeoutMs: 10_000,
    perSource: 20_000,
  };
  const rssBeforeBytes = await settledRss(rss);
  let open = 0;
  let pending = '';
  let onEstablished: (r: Extract<AttackReport, { type: 'established' }>) => void = () => undefined;
  const established = new Promise<Extract<AttackReport, { type: 'established' }>>(
    (resolve) => (onEstablished = resolve),
  );
  const file = fileURLToPath(new URL('./hostile-attack.ts', import.meta.url));
  const child = spawnPinned(cpu, process.execPath, [file, JSON.stringify(plan), '600000'], (c) => {
    pending += c;
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      // The 'final' line lists every connection: not needed here.
      if (line.startsWith('{"type":"final"')) continue;
      const report = JSON.parse(line) as AttackReport;
      if (report.type === 'established') onEstablished(report);
      // Every 250 ms: the last one is at most that old when RSS has been read.
      else if (report.type === 'status') open = report.open;
    }
  });
  try {
    const result = await Promise.race([
      established,
      once(child, 'exit').then(([code]) => {
        throw new Error(`the idle client exited with ${code} (BENCH_DEBUG=1 shows its stderr)`);
      }),
    ]);
    // Let the system finish with the last batch (its upstream requests, its timers), then read.
    await sleep(1_000);
    const rssAfterBytes = await settledRss(rss);
    return {
      connections: count,
      held: Math.min(result.held, open),
      failed: result.failed + result.connectFailures,
      rssBeforeBytes,
      rssAfterBytes,
    };
  } finally {
    await stopChild(child, 10_000);
  }
}

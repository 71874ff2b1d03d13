/**
 * The normal client of `hostile-load.ts`, in a worker thread of its own so that the attack's
 * thousands of sockets on the main thread's event loop do not delay its timings. Sequential
 * GETs, each on a fresh connection (what a newly arriving user meets: accept, then one
 * request), plus a burst of concurrent ones every second. Bounded in count and time; stops when
 * the main thread posts 'stop' and answers with every sample.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';

/** What the main thread passes as workerData. */
export interface ProbeOptions {
  readonly port: number;
  readonly host: string;
  readonly path: string;
  /** Pause between two sequential GETs. */
  readonly pauseMs: number;
  readonly burstEveryMs: number;
  readonly burstSize: number;
  readonly timeoutMs: number;
  /** Hard bounds, whatever the main thread does. */
  readonly maxMs: number;
  readonly maxRequests: number;
}

/** One GET: when it started (epoch ms), how long it took, and how it ended. */
export interface ProbeSample {
  readonly t: number;
  readonly ms: number;
  readonly ok: boolean;
  /** Status code, or the error code ('timeout', 'ECONNRESET', ...). */
  readonly outcome: string;
}

function getOnce(o: ProbeOptions): Promise<ProbeSample> {
  const t = Date.now();
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, outcome: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ t, ms: performance.now() - t0, ok, outcome });
    };
    const req = http.get(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path,
        agent: false,
        headers: { host: o.host, connection: 'close' },
      },
      (res) => {
        res.resume();
        res.once('end', () => finish(res.statusCode === 200, String(res.statusCode)));
        res.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? 'error'));
      },
    );
    req.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? 'error'));
    const timer = setTimeout(() => {
      finish(false, 'timeout');
      req.destroy();
    }, o.timeoutMs);
  });
}

async function run(o: ProbeOptions): Promise<void> {
  const samples: ProbeSample[] = [];
  let stopping = false;
  parentPort?.once('message', () => (stopping = true));
  const deadline = Date.now() + o.maxMs;
  const more = () => !stopping && Date.now() < deadline && samples.length < o.maxRequests;
  const bursts = (async () => {
    while (more()) {
      await sleep(o.burstEveryMs);
      if (!more()) break;
      const burst = await Promise.all(Array.from({ length: o.burstSize }, () => getOnce(o)));
      samples.push(...burst);
    }
  })();
  while (more()) {
    samples.push(await getOnce(o));
    await sleep(o.pauseMs);
  }
  await bursts;
  // Wait for the stop message if a bound ended the loop first, so the reply always follows it.
  while (!stopping && Date.now() < deadline + 60_000) await sleep(50);
  parentPort?.postMessage(samples);
}

await run(workerData as ProbeOptions);

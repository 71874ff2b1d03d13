/**
 * A worker process: the data path of the proxy, and nothing else. Forked by the primary
 * (workers/worker-set.ts), it gets its config over IPC, binds the listeners with SO_REUSEPORT
 * and serves until the primary says to drain. It owns no admin socket, no health listener and
 * no signals: the primary coordinates all of that, so a signal sent to the whole process group
 * (Ctrl-C at a terminal) must not stop a worker on its own.
 */
import { startDataPath } from '../data-path.ts';
import type { DataPath } from '../data-path.ts';
import { isProxyError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { ProxyMetrics } from '../metrics.ts';
import { LeasedLimiter } from '../rate-limit/leased-limiter.ts';
import { snapshotFromData } from './snapshot-transfer.ts';
import type { FromWorker, ToWorker } from './worker-messages.ts';

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);

const send = (message: FromWorker) => process.send?.(message);
/** Sends, then exits once the message has left (an exit right after send() can lose it). */
const sendAndExit = (message: FromWorker, code: number) => {
  if (process.send === undefined || !process.connected) process.exit(code);
  process.send(message, () => process.exit(code));
};
const metrics = new ProxyMetrics();
let path: DataPath | undefined;
let limiter: LeasedLimiter | undefined;
let log: Logger | undefined;
let stopping = false;

process.on('message', (message: ToWorker) => {
  void handle(message).catch((err: unknown) => {
    log?.error({ err }, 'worker: message failed');
  });
});

// The primary is gone (killed, crashed): nobody can reload or stop this worker any more.
process.on('disconnect', () => void stop(1_000));

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'start':
      return start(message);
    case 'apply': {
      if (path === undefined) return;
      try {
        path.apply(snapshotFromData(message.snapshot, path.store.current()));
        send({ type: 'applied', id: message.id, generation: message.snapshot.generation });
      } catch (err) {
        log?.error({ err, generation: message.snapshot.generation }, 'worker: apply failed');
        send({ type: 'apply_failed', id: message.id, message: String(err) });
      }
      return;
    }
    case 'endpoints':
      // Plain data the primary checked: applying it cannot fail short of a bug, which the
      // primary sees as no answer in time (and replaces the worker).
      path?.applyEndpoints(message.data);
      send({ type: 'endpoints_applied', id: message.id });
      return;
    case 'metrics':
      send({ type: 'metrics', id: message.id, metrics: await metrics.registry.getMetricsAsJSON() });
      return;
    case 'rate_grant':
      limiter?.grant(message.grants);
      return;
    case 'drain':
      path?.startDraining();
      return;
    case 'shutdown':
      return stop(message.graceMs);
  }
}

async function start(message: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const snapshot = snapshotFromData(message.snapshot);
  log = createLogger(snapshot.config.log.level, { worker: true });
  metrics.generation.set(snapshot.generation);
  // The rate limits' buckets are the primary's: this worker leases tokens from them.
  limiter = new LeasedLimiter({
    workers: message.workers,
    send: (takes) => {
      if (process.send === undefined || !process.connected) return false;
      process.send({ type: 'rate_take', takes } satisfies FromWorker);
      return true;
    },
  });
  try {
    path = await startDataPath(snapshot, log, metrics, {
      workers: message.workers,
      reusePort: true,
      addresses: message.addresses,
      limiter,
      endpoints: message.endpoints,
    });
  } catch (err) {
    const code = isProxyError(err) ? err.code : 'ERR_INTERNAL';
    sendAndExit({ type: 'start_failed', code, message: (err as Error).message }, 1);
    return;
  }
  send({ type: 'ready', bound: path.bound, generation: snapshot.generation });
}

async function stop(graceMs: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const outcome = path === undefined ? 'drained' : await path.close(graceMs);
  sendAndExit({ type: 'stopped', outcome }, 0);
}

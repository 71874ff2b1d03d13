import type { ApplyReport } from '../config/reloader.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { ERROR_CODES, ProxyError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { CloseOutcome } from '../proxy/listeners.ts';
import { BucketTable } from '../rate-limit/bucket-table.ts';
import { snapshotData } from './snapshot-transfer.ts';
import type { SnapshotData } from './snapshot-transfer.ts';
import { WorkerProcess, WorkerStartError } from './worker-process.ts';
import type { EndpointsFileData } from '../endpoints/endpoint-file.ts';

/**
 * How long a worker may take to apply a config: 20 times what the primary's own compile of it
 * took (a worker under load compiles slower, on a busy event loop), at least 5 s. Past that it
 * is stuck, and is replaced. A 10,000-site config compiles in about a second: 20 s.
 */
const APPLY_MIN_MS = 5_000;
const APPLY_COMPILE_FACTOR = 20;
/** A worker that starts while a reload runs gets this long for the catch-up apply. */
const APPLY_TIMEOUT_MS = 30_000;
/** A scrape waits this long for each worker; one that is late is left out of that scrape. */
const METRICS_TIMEOUT_MS = 2_000;
/** A worker that lived this long before it died starts the back-off over. */
const STABLE_AFTER_MS = 10_000;
const RESPAWN_MAX_DELAY_MS = 30_000;

/** One worker as `ctl status` shows it. */
export interface WorkerStatus {
  readonly slot: number;
  readonly pid: number;
  readonly generation: number;
  readonly ready: boolean;
}

/**
 * The primary's workers: started on one snapshot, kept on the newest one the primary applied,
 * replaced when they die. Every worker binds the same addresses with SO_REUSEPORT; the first
 * binds the config's (port 0 included) and the rest bind what it got.
 */
export class WorkerSet {
  readonly #count: number;
  readonly #log: Logger;
  readonly #metrics: ProxyMetrics;
  readonly #slots: (WorkerProcess | undefined)[];
  /** Consecutive short-lived deaths per slot, for the back-off. */
  readonly #crashes: number[];
  /** Workers killed on purpose (they could not apply a reload): replaced without back-off. */
  readonly #replacing = new Set<WorkerProcess>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #target: SnapshotData | undefined;
  /** The endpoints every worker serves, and what a new worker starts on. */
  #endpoints: EndpointsFileData | undefined;
  #addresses: readonly string[] = [];
  #stopping = false;
  /**
   * The rate limits' buckets, for the whole proxy: workers lease tokens from them
   * (rate-limit/leased-limiter.ts), so N workers admit what one process would.
   */
  readonly #buckets = new BucketTable();

  constructor(count: number, log: Logger, metrics: ProxyMetrics) {
    this.#count = count;
    this.#log = log;
    this.#metrics = metrics;
    this.#slots = new Array<WorkerProcess | undefined>(count).fill(undefined);
    this.#crashes = new Array<number>(count).fill(0);
    metrics.workers.set(0);
    metrics.observeRateLimits(() => this.#buckets.figures());
  }

  /** Starts every worker on `snapshot`; all bind or none stay. Resolves with the bound addresses. */
  async start(snapshot: Snapshot, endpoints?: EndpointsFileData): Promise<readonly string[]> {
    const data = snapshotData(snapshot);
    this.#target = data;
    this.#endpoints = endpoints;
    const configured = snapshot.config.listeners.map((l) => l.address);
    try {
      const first = this.#spawn(0);
      this.#addresses = await first.start(data, this.#count, configured, endpoints);
      await Promise.all(
        this.#slots.map((_, slot) =>
          slot === 0
            ? undefined
            : this.#spawn(slot).start(data, this.#count, this.#addresses, endpoints),
        ),
      );
    } catch (err) {
      this.#stopping = true;
      for (const worker of this.#slots) worker?.kill();
      await Promise.all(this.#slots.map((w) => w?.exited));
      if (err instanceof WorkerStartError) throw new ProxyError(errorCode(err.code), err.message);
      throw err;
    }
    for (const worker of this.#slots) if (worker !== undefined) this.#watch(worker);
    this.#metrics.workers.set(this.#count);
    return this.#addresses;
  }

  /**
   * Puts `next` into every worker; resolves once all of them serve it. A worker that fails
   * (an error, no answer in time) is replaced by a new one started on `next`, and the report
   * names it. If none can apply it, the reload fails and they keep what they serve.
   */
  async apply(next: Snapshot, compileMs: number): Promise<ApplyReport> {
    const data = snapshotData(next);
    const deadline = Math.max(APPLY_MIN_MS, APPLY_COMPILE_FACTOR * compileMs);
    const previous = this.#target;
    this.#target = data;
    const live = this.#slots.filter(
      (w): w is WorkerProcess => w !== undefined && w.ready && w.alive,
    );
    const done = await Promise.all(live.map((w) => w.apply(data, deadline)));
    const failed = live.filter((_, i) => done[i] !== true);
    if (live.length > 0 && failed.length === live.length) {
      this.#target = previous;
      throw new ProxyError('ERR_WORKERS_APPLY', 'no worker could apply the config');
    }
    if (failed.length === 0) return {};
    this.#log.error(
      { pids: failed.map((w) => w.pid), generation: data.generation },
      'workers could not apply the config; replacing them',
    );
    await Promise.all(failed.map((w) => this.#replace(w)));
    return { workersReplaced: failed.map((w) => w.pid) };
  }

  /**
   * An endpoint update into every worker (the primary read and checked it once); resolves when
   * all applied it. A worker that does not answer in time is replaced by one started on it.
   */
  async applyEndpoints(data: EndpointsFileData): Promise<void> {
    this.#endpoints = data;
    const live = this.#slots.filter(
      (w): w is WorkerProcess => w !== undefined && w.ready && w.alive,
    );
    const done = await Promise.all(live.map((w) => w.applyEndpoints(data, APPLY_MIN_MS)));
    const failed = live.filter((_, i) => !done[i]);
    if (failed.length === 0) return;
    this.#log.error(
      { pids: failed.map((w) => w.pid) },
      'workers did not apply the endpoint update; replacing them',
    );
    await Promise.all(failed.map((w) => this.#replace(w)));
  }

  /** True when every slot has a live worker serving `generation`. */
  serves(generation: number): boolean {
    return this.#slots.every(
      (w) => w !== undefined && w.alive && w.ready && w.generation === generation,
    );
  }

  status(): WorkerStatus[] {
    return this.#slots.flatMap((w, slot) =>
      w === undefined
        ? []
        : [{ slot, pid: w.pid, generation: w.generation, ready: w.ready && w.alive }],
    );
  }

  /** Every live worker's metrics (prom-client JSON); a worker that does not answer is left out. */
  async metrics(): Promise<unknown[][]> {
    const all = await Promise.all(
      this.#slots.map((w) => (w?.ready === true ? w.metrics(METRICS_TIMEOUT_MS) : undefined)),
    );
    return all.filter((m): m is unknown[] => m !== undefined);
  }

  /** Responses ask clients to close from now on (the drain delay of a shutdown). */
  drain(): void {
    for (const worker of this.#slots) worker?.drain();
  }

  /** Every worker drains within `graceMs` and exits; none is replaced any more. */
  async close(graceMs: number): Promise<CloseOutcome> {
    this.#stopping = true;
    for (const timer of this.#timers) clearTimeout(timer);
    const outcomes = await Promise.all(
      this.#slots.map((w) => (w?.alive === true ? w.shutdown(graceMs) : 'drained')),
    );
    this.#metrics.workers.set(0);
    this.#buckets.close();
    return outcomes.every((o) => o === 'drained') ? 'drained' : 'forced';
  }

  #spawn(slot: number): WorkerProcess {
    const worker = new WorkerProcess(slot);
    worker.onRateTakes = (takes) => {
      const grants = this.#buckets.answer(takes);
      if (grants.length > 0) worker.grantRates(grants);
    };
    this.#slots[slot] = worker;
    return worker;
  }

  /** Kills a worker that could not apply, and waits for its replacement on the target. */
  async #replace(worker: WorkerProcess): Promise<void> {
    this.#replacing.add(worker);
    this.#metrics.workerRestarts.inc({ reason: 'apply_failed' });
    worker.kill();
    await worker.exited;
    await this.#respawn(worker.slot);
  }

  #watch(worker: WorkerProcess): void {
    void worker.exited.then(({ code, signal }) => {
      this.#metrics.workers.set(this.#live());
      if (this.#stopping || this.#slots[worker.slot] !== worker) return;
      if (this.#replacing.delete(worker)) return; // #replace starts the next one itself
      const lived = Date.now() - worker.startedAt;
      const crashes = lived >= STABLE_AFTER_MS ? 1 : (this.#crashes[worker.slot] ?? 0) + 1;
      this.#crashes[worker.slot] = crashes;
      // The first death is replaced at once; one that keeps dying waits 0.5 s, 1 s, 2 s... 30 s.
      const delay = crashes <= 1 ? 0 : Math.min(RESPAWN_MAX_DELAY_MS, 500 * 2 ** (crashes - 2));
      this.#metrics.workerRestarts.inc({ reason: signal === null ? 'exit' : 'signal' });
      this.#log.error(
        { worker_pid: worker.pid, slot: worker.slot, code, signal, restart_in_ms: delay },
        'worker died; replacing it',
      );
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        void this.#respawn(worker.slot);
      }, delay);
      this.#timers.add(timer);
    });
  }

  async #respawn(slot: number): Promise<void> {
    const target = this.#target;
    if (this.#stopping || target === undefined) return;
    const worker = this.#spawn(slot);
    this.#watch(worker);
    try {
      const endpoints = this.#endpoints;
      await worker.start(target, this.#count, this.#addresses, endpoints);
      // A reload that ran while it started reached the others, not this one.
      const now = this.#target;
      if (now !== undefined && now !== target && !(await worker.apply(now, APPLY_TIMEOUT_MS))) {
        worker.kill();
        return;
      }
      // So did an endpoint update.
      const latest = this.#endpoints;
      if (latest !== undefined && latest !== endpoints) {
        if (!(await worker.applyEndpoints(latest, APPLY_TIMEOUT_MS))) {
          worker.kill();
          return;
        }
      }
      this.#metrics.workers.set(this.#live());
      this.#log.info(
        { worker_pid: worker.pid, slot, generation: worker.generation },
        'worker started',
      );
    } catch (err) {
      // Its exit is watched: the back-off takes it from here.
      this.#log.error({ err, slot }, 'worker could not start');
    }
  }

  #live(): number {
    return this.#slots.filter((w) => w?.alive === true && w.ready).length;
  }
}

/** A worker's error code as sent over IPC: one of ours, or an internal error. */
function errorCode(code: string): ErrorCode {
  return code in ERROR_CODES ? (code as ErrorCode) : 'ERR_INTERNAL';
}

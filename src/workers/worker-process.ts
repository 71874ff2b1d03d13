import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { RateGrant, RateTake } from '../rate-limit/lease-protocol.ts';
import type { SnapshotData } from './snapshot-transfer.ts';
import type { EndpointsFileData } from '../endpoints/endpoint-file.ts';
import type { FromWorker, ToWorker } from './worker-messages.ts';

/** The worker's entry, next to this file: .ts from the sources, .js once compiled. */
const ENTRY = new URL(
  `./worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

type Reply = Extract<FromWorker, { id: number }>;

/** Why a worker could not start: its listeners would not bind, or it died first. */
export class WorkerStartError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The primary's handle on one worker process: spawn, the request/reply calls over IPC (each
 * with a deadline, so a stuck worker cannot stall a reload or a scrape), and its exit.
 */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly slot: number;
  readonly startedAt = Date.now();
  /** The generation it serves (reported by the worker itself). */
  generation = 0;
  ready = false;
  #nextId = 1;
  readonly #waiting = new Map<number, (reply: Reply | undefined) => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #onStopped: ((outcome: 'drained' | 'forced') => void) | undefined;
  /** Its asks for rate-limit tokens: the primary answers with `grantRates`. */
  onRateTakes: ((takes: readonly RateTake[]) => void) | undefined;

  constructor(slot: number) {
    this.slot = slot;
    // The primary's own Node flags (the young-generation cap of the shebang) carry over.
    this.child = fork(ENTRY, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: process.execArgv,
    });
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      for (const resolve of this.#waiting.values()) resolve(undefined);
      this.#waiting.clear();
      return { code: code as number | null, signal: signal as NodeJS.Signals | null };
    });
    this.child.on('message', (message: FromWorker) => this.#onMessage(message));
    // A worker that died has no channel left; what the primary wrote is lost, and that is
    // handled where the exit is.
    this.child.on('error', () => undefined);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends the start; resolves with the bound addresses once it listens. */
  async start(
    snapshot: SnapshotData,
    workers: number,
    addresses: readonly string[],
    endpoints?: EndpointsFileData,
  ): Promise<string[]> {
    const answer = new Promise<string[]>((resolve, reject) => {
      this.#onStart = (message) => {
        if (message.type === 'ready') {
          this.generation = message.generation;
          this.ready = true;
          resolve([...message.bound]);
        } else reject(new WorkerStartError(message.code, message.message));
      };
      void this.exited.then(({ code, signal }) =>
        reject(
          new WorkerStartError(
            'ERR_WORKER_EXITED',
            `worker exited (${signal ?? code}) before it listened`,
          ),
        ),
      );
    });
    this.#send({ type: 'start', snapshot, workers, addresses, endpoints });
    return answer;
  }

  #onStart:
    ((message: Extract<FromWorker, { type: 'ready' | 'start_failed' }>) => void) | undefined;

  /** Asks it to serve `snapshot`; true once it does, false if it failed, died or took too long. */
  async apply(snapshot: SnapshotData, timeoutMs: number): Promise<boolean> {
    const reply = await this.#call((id) => ({ type: 'apply', id, snapshot }), timeoutMs);
    if (reply?.type !== 'applied') return false;
    this.generation = reply.generation;
    return true;
  }

  /** Asks it to serve these endpoints; true once it does, false if it died or took too long. */
  async applyEndpoints(data: EndpointsFileData, timeoutMs: number): Promise<boolean> {
    const reply = await this.#call((id) => ({ type: 'endpoints', id, data }), timeoutMs);
    return reply?.type === 'endpoints_applied';
  }

  /** Its metrics as prom-client JSON, or undefined when it does not answer in time. */
  async metrics(timeoutMs: number): Promise<unknown[] | undefined> {
    const reply = await this.#call((id) => ({ type: 'metrics', id }), timeoutMs);
    return reply?.type === 'metrics' ? reply.metrics : undefined;
  }

  drain(): void {
    this.#send({ type: 'drain' });
  }

  grantRates(grants: readonly RateGrant[]): void {
    this.#send({ type: 'rate_grant', grants });
  }

  /** Drains within `graceMs`; resolves with its outcome once it has exited. */
  async shutdown(graceMs: number): Promise<'drained' | 'forced'> {
    let outcome: 'drained' | 'forced' = 'forced';
    this.#onStopped = (o) => (outcome = o);
    this.#send({ type: 'shutdown', graceMs });
    // Its own grace, then a margin for the exit itself; past that it is killed.
    const timer = setTimeout(() => this.kill(), graceMs + 5_000);
    await this.exited;
    clearTimeout(timer);
    return outcome;
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  #call(make: (id: number) => ToWorker, timeoutMs: number): Promise<Reply | undefined> {
    if (!this.alive) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.#send(make(id));
    });
  }

  #send(message: ToWorker): void {
    if (this.child.connected) this.child.send(message);
  }

  #onMessage(message: FromWorker): void {
    if (message.type === 'ready' || message.type === 'start_failed') {
      this.#onStart?.(message);
      return;
    }
    if (message.type === 'stopped') {
      this.#onStopped?.(message.outcome);
      return;
    }
    if (message.type === 'rate_take') {
      this.onRateTakes?.(message.takes);
      return;
    }
    const waiter = this.#waiting.get(message.id);
    this.#waiting.delete(message.id);
    waiter?.(message);
  }
}

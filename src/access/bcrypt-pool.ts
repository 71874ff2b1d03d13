import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CompareAnswer, CompareJob } from './bcrypt-thread.ts';

/** The thread's entry, next to this file: .ts from the sources, .js once compiled. */
const ENTRY = new URL(
  `./bcrypt-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

/** Comparisons waiting for a thread, at most, before new ones are refused (BcryptBusyError). */
export const MAX_QUEUED = 256;

/**
 * Threads per process: the CPUs left to each worker process, 1 to 4. Logins are rare once the
 * login cache holds them; more threads would only let a password guesser take more CPU.
 */
export function bcryptThreads(workers: number): number {
  return Math.max(1, Math.min(4, Math.floor(availableParallelism() / Math.max(1, workers))));
}

/** Too many comparisons waiting: the request is answered as an unavailable auth check. */
export class BcryptBusyError extends Error {
  constructor() {
    super(`bcrypt: ${MAX_QUEUED} comparisons already waiting`);
    this.name = 'BcryptBusyError';
  }
}

interface Job extends CompareJob {
  resolve(ok: boolean): void;
  reject(err: Error): void;
}

interface Thread {
  readonly worker: Worker;
  job: Job | undefined;
}

/**
 * bcrypt comparisons on worker threads. bcryptjs is pure JS: a cost-12 comparison is ~300 ms of
 * CPU, and its own async mode still holds the event loop in 100 ms slices, which every other
 * request on this process would wait through. Threads start on the first comparison (a proxy
 * without basic auth starts none), are unref'd (they never keep the process alive), and a
 * thread that dies is replaced by the next comparison. The queue is bounded: a flood of guesses
 * is refused rather than held in memory (the rate limit, which runs before, should slow it).
 */
export class BcryptPool {
  readonly #size: number;
  readonly #threads = new Set<Thread>();
  readonly #queue: Job[] = [];
  #closed = false;

  constructor(size: number) {
    this.#size = Math.max(1, size);
  }

  compare(password: string, hash: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error('bcrypt: the pool is closed'));
      const job: Job = { password, hash, resolve, reject };
      const idle = [...this.#threads].find((t) => t.job === undefined);
      if (idle !== undefined) return this.#run(idle, job);
      if (this.#threads.size < this.#size) return this.#run(this.#spawn(), job);
      if (this.#queue.length >= MAX_QUEUED) return reject(new BcryptBusyError());
      this.#queue.push(job);
    });
  }

  /** Ends every thread; comparisons still waiting fail. */
  close(): void {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.reject(new Error('bcrypt: the pool is closed'));
    for (const thread of this.#threads) void thread.worker.terminate();
  }

  #spawn(): Thread {
    const worker = new Worker(ENTRY);
    worker.unref();
    const thread: Thread = { worker, job: undefined };
    this.#threads.add(thread);
    worker.on('message', (answer: CompareAnswer) => {
      const job = thread.job;
      thread.job = undefined;
      if (job !== undefined) {
        if ('ok' in answer) job.resolve(answer.ok);
        else job.reject(new Error(`bcrypt: ${answer.error}`));
      }
      const next = this.#queue.shift();
      if (next !== undefined) this.#run(thread, next);
    });
    const gone = (err: Error) => {
      if (!this.#threads.delete(thread)) return;
      thread.job?.reject(err);
      thread.job = undefined;
      // The jobs that waited get a new thread, unless the pool is closing.
      const next = this.#queue.shift();
      if (next !== undefined && !this.#closed) this.#run(this.#spawn(), next);
      else next?.reject(err);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`bcrypt: thread exited with ${code}`)));
    return thread;
  }

  #run(thread: Thread, job: Job): void {
    thread.job = job;
    thread.worker.postMessage({ password: job.password, hash: job.hash } satisfies CompareJob);
  }
}

/**
 * A bcrypt thread (access/bcrypt-pool.ts): one comparison at a time, off the event loop. Its
 * answer is the verdict, or the reason bcryptjs threw (never the password).
 */
import { parentPort } from 'node:worker_threads';
import { compareSync } from 'bcryptjs';

export interface CompareJob {
  readonly password: string;
  readonly hash: string;
}

export type CompareAnswer = { readonly ok: boolean } | { readonly error: string };

parentPort?.on('message', ({ password, hash }: CompareJob) => {
  let answer: CompareAnswer;
  try {
    answer = { ok: compareSync(password, hash) };
  } catch (err) {
    answer = { error: err instanceof Error ? err.message : 'bcrypt failed' };
  }
  parentPort?.postMessage(answer);
});

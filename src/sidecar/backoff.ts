/** Bounds of an exponential back-off. */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Watch restarts: 1 s doubling to 30 s (the bounds, and client-node's own). */
export const WATCH_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000 };

/**
 * The delay before retry number `attempt` (0 for the first retry): base * 2^attempt, capped,
 * then jittered down by up to a quarter and clamped to [base, max]. The jitter keeps the
 * sidecars of many pods from hammering the API server in step after an outage.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  const jittered = exponential * (1 - 0.25 * random());
  return Math.round(Math.min(policy.maxMs, Math.max(policy.baseMs, jittered)));
}

/** Resolves after `ms`, or at once (false) when the signal aborts: waiting never outlives stop. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

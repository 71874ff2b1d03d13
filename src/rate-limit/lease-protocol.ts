import type { RouteRateLimit } from '../access/route-gate.ts';

/**
 * Token leases between the primary (which owns the buckets) and its workers, over the IPC
 * channel of workers/worker-messages.ts: a worker asks for a few tokens of a bucket at once and
 * spends them on its own, so a busy limit costs one round trip per lease, not per request.
 */

/**
 * One bucket's tokens asked for by a worker, or (`seq` 0, `want` 0) a lease it is done with.
 * Batched: everything a worker has to say in one event-loop turn goes in one IPC message.
 */
export interface RateTake {
  /** The worker's own number for this ask, which the grant answers; 0: no answer wanted. */
  readonly seq: number;
  readonly scope: string;
  readonly key: string;
  /** The limit as the worker's snapshot has it (the primary's may be a reload ahead or behind). */
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly want: number;
  /** A lease of this bucket the worker is done with (0: none), and the tokens it did not spend. */
  readonly ended: number;
  readonly unused: number;
}

/** The primary's answer to a RateTake. */
export interface RateGrant {
  readonly seq: number;
  /** 0 to `want` tokens; the worker may spend them until LEASE_TTL_MS after it asked. */
  readonly granted: number;
  /** The lease's id (0 when nothing was granted): the worker names it when it is done. */
  readonly lease: number;
  /** 0 while the bucket still holds a token, else how long until it will. */
  readonly retryAfterMs: number;
}

/**
 * How long a lease lives at most. The worker counts it from the moment it asked, the primary
 * from the moment it granted (later, on the same machine's clock rate), so the primary never
 * stops counting a lease the worker can still spend. A worker says when it is done with one
 * (spent, or RETURN_AFTER_MS over): this is the bound for one that never says so (it died).
 */
export const LEASE_TTL_MS = 100;

/**
 * A worker gives back what it has not spent of a lease this long after it asked: a leased
 * token that waits in one worker is one another worker may be refused (docs/config.md), and
 * given back before the lease's end it goes back into the bucket.
 */
export const RETURN_AFTER_MS = 50;

/**
 * Tokens a worker asks for at once: a tenth of a second's worth, and no more than a share of
 * the burst that leaves half of it in the bucket when every worker holds a lease (tokens one
 * worker holds are tokens another may be refused); at least 1.
 */
export function leaseSize(limit: RouteRateLimit, workers: number): number {
  const share = Math.floor(limit.burst / (2 * workers));
  return Math.max(1, Math.min(share, Math.floor(limit.ratePerSecond / 10)));
}

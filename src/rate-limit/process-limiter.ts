import type { RateLimiter } from '../access/request-gate.ts';

/** What /metrics shows of a process's rate limiting (metrics.ts, observeRateLimits). */
export interface RateLimitFigures {
  /** Token buckets held: the process's own, or the primary's for its workers. */
  readonly buckets: number;
  /** Buckets dropped before they had refilled, because the table was at its cap. */
  readonly evictions: number;
  /** Leases the primary did not answer in time (a worker then used its local share). */
  readonly leaseTimeouts: number;
}

/** A process's rate limiter, owned by its data path (or its primary) for the process's life. */
export interface ProcessLimiter extends RateLimiter {
  figures(): RateLimitFigures;
  /** Stops its timers. */
  close(): void;
}

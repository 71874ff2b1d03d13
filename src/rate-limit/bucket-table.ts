import type { TakeResult } from '../access/request-gate.ts';
import type { RouteRateLimit } from '../access/route-gate.ts';
import { LEASE_TTL_MS } from './lease-protocol.ts';
import type { RateGrant, RateTake } from './lease-protocol.ts';
import type { ProcessLimiter, RateLimitFigures } from './process-limiter.ts';
import { NO_SLOT, SlotTable } from './slot-table.ts';

/**
 * Buckets one process holds at most (docs/config.md, "rate_limit"): about 10 MB of them,
 * measured (docs/performance.md). Past it the least recently used bucket is dropped.
 */
export const MAX_BUCKETS = 100_000;
/** How often buckets that have refilled are dropped (a full bucket is the same as none). */
const SWEEP_EVERY_MS = 10_000;
/** Float slack: three takes of a 3/s bucket a third of a second apart are three tokens. */
const EPSILON = 1e-9;

const OK: TakeResult = Object.freeze({ ok: true });

export interface BucketTableOptions {
  /** Buckets held at most (default MAX_BUCKETS). */
  readonly capacity?: number | undefined;
  /** Milliseconds on a monotonic clock (default performance.now). */
  readonly now?: (() => number) | undefined;
  /** 0: never sweep on a timer (tests call sweep()). */
  readonly sweepEveryMs?: number | undefined;
}

/** A bucket's leases still running, oldest first (they all live LEASE_TTL_MS). */
class Leases {
  /** Their tokens, spent or not: the bucket may not refill into them while they run. */
  leased = 0;
  readonly ids: number[] = [];
  readonly counts: number[] = [];
  readonly ends: number[] = [];
}

/**
 * Token buckets, one per (scope, key): each refills at the limit's rate and holds at most its
 * burst; a request takes one token or is refused with the time until one is back.
 *
 * The process's own limiter with `workers: 1` (`take`: synchronous, no allocation when a hit
 * passes), and the primary's with several workers (`lease`: workers take batches of tokens).
 * A leased token leaves the bucket when it is granted, and while its lease runs the bucket may
 * not refill above `burst - leased`: tokens in the bucket plus tokens the workers could still
 * spend never exceed the burst, so whatever order and moment the workers spend them in, no
 * window admits more than one bucket would (docs/config.md, "rate_limit" with workers).
 */
export class BucketTable implements ProcessLimiter {
  readonly #slots: SlotTable;
  readonly #now: () => number;
  #tokens = new Float64Array(0);
  /** When `#tokens` was last brought up to date. */
  #stamp = new Float64Array(0);
  /** When the bucket will be full again if nothing takes from it (the sweep drops it then). */
  #fullAt = new Float64Array(0);
  /** Only buckets with leases running (the primary's; empty with `workers: 1`). */
  readonly #leases = new Map<number, Leases>();
  #leaseIds = 0;
  #evictions = 0;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #evict = (slot: number) => {
    if ((this.#fullAt[slot] as number) > this.#now()) this.#evictions++;
    this.#leases.delete(slot);
  };

  constructor(options: BucketTableOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#slots = new SlotTable(options.capacity ?? MAX_BUCKETS, (n) => this.#grow(n));
    const every = options.sweepEveryMs ?? SWEEP_EVERY_MS;
    if (every > 0) this.#timer = setInterval(() => this.sweep(), every).unref();
  }

  get size(): number {
    return this.#slots.size;
  }

  figures(): RateLimitFigures {
    return { buckets: this.#slots.size, evictions: this.#evictions, leaseTimeouts: 0 };
  }

  /** One token of (limit's scope, key): `{ok: true}`, or refused with the seconds until one. */
  take(limit: RouteRateLimit, key: string): TakeResult {
    const now = this.#now();
    const perMs = limit.ratePerSecond / 1000;
    const { burst } = limit;
    let slot = this.#slots.find(limit.scope, key);
    let tokens: number;
    if (slot === NO_SLOT) {
      slot = this.#slots.add(limit.scope, key, this.#evict);
      tokens = burst;
    } else {
      tokens = this.#refill(slot, perMs, burst, now);
    }
    if (tokens >= 1 - EPSILON) {
      this.#store(slot, tokens - 1, now, perMs, burst);
      return OK;
    }
    this.#store(slot, tokens, now, perMs, burst);
    return { ok: false, retryAfterS: (1 - tokens) / limit.ratePerSecond };
  }

  /** A worker's batch (the primary's side): the grants that answer its asks. */
  answer(takes: readonly RateTake[]): RateGrant[] {
    const grants: RateGrant[] = [];
    for (const take of takes) {
      const grant = this.lease(take);
      if (take.seq !== 0) grants.push(grant);
    }
    return grants;
  }

  /**
   * One ask: ends the lease it names (its unspent tokens go back, its room frees), then grants
   * what the bucket holds, up to `want`, as a lease of at most LEASE_TTL_MS.
   */
  lease(take: RateTake): RateGrant {
    const now = this.#now();
    const perMs = take.ratePerSecond / 1000;
    const { burst } = take;
    let slot = this.#slots.find(take.scope, take.key);
    let tokens: number;
    if (slot === NO_SLOT) {
      // A lease of a bucket that is gone (evicted, swept) ended with it.
      if (take.want === 0) return { seq: take.seq, granted: 0, lease: 0, retryAfterMs: 0 };
      slot = this.#slots.add(take.scope, take.key, this.#evict);
      tokens = burst;
    } else {
      tokens = this.#refill(slot, perMs, burst, now);
      if (take.ended !== 0) tokens = this.#endLease(slot, take.ended, take.unused, tokens, burst);
    }
    const granted = Math.max(0, Math.min(take.want, Math.floor(tokens + EPSILON)));
    let id = 0;
    if (granted > 0) {
      tokens -= granted;
      id = ++this.#leaseIds;
      let leases = this.#leases.get(slot);
      if (leases === undefined) {
        leases = new Leases();
        this.#leases.set(slot, leases);
      }
      leases.leased += granted;
      leases.ids.push(id);
      leases.counts.push(granted);
      leases.ends.push(now + LEASE_TTL_MS);
    }
    this.#store(slot, tokens, now, perMs, burst);
    const retryAfterMs = tokens >= 1 - EPSILON ? 0 : (1 - tokens) / perMs;
    return { seq: take.seq, granted, lease: id, retryAfterMs };
  }

  /**
   * Drops the buckets that have refilled (their leases all over): the same as no bucket, since
   * a new one starts full. Returns how many went.
   */
  sweep(): number {
    const now = this.#now();
    return this.#slots.removeWhere(
      (slot) => (this.#fullAt[slot] as number) <= now,
      (slot) => this.#leases.delete(slot),
    );
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  /** The bucket's tokens at `now`: its leases that ended since give their room back, in order. */
  #refill(slot: number, perMs: number, burst: number, now: number): number {
    let tokens = this.#tokens[slot] as number;
    let stamp = this.#stamp[slot] as number;
    let leased = 0;
    if (this.#leases.size !== 0) {
      const leases = this.#leases.get(slot);
      if (leases !== undefined) {
        while (leases.ends.length > 0 && (leases.ends[0] as number) <= now) {
          const end = leases.ends.shift() as number;
          tokens = Math.min(burst - leases.leased, tokens + (end - stamp) * perMs);
          stamp = end;
          leases.leased -= leases.counts.shift() as number;
          leases.ids.shift();
        }
        if (leases.ends.length === 0) this.#leases.delete(slot);
        leased = leases.leased;
      }
    }
    // A reload may have lowered the burst: the bucket is then capped at once, never in debt.
    return Math.min(burst - leased, tokens + (now - stamp) * perMs);
  }

  /** A worker is done with a lease: its unspent tokens go back, and its room with them. */
  #endLease(slot: number, id: number, unused: number, tokens: number, burst: number): number {
    const leases = this.#leases.get(slot);
    const i = leases?.ids.indexOf(id) ?? -1;
    // Not found: it ended already (the primary's clock), and its tokens with it.
    if (leases === undefined || i < 0) return tokens;
    const count = leases.counts[i] as number;
    leases.leased -= count;
    leases.ids.splice(i, 1);
    leases.counts.splice(i, 1);
    leases.ends.splice(i, 1);
    if (leases.ids.length === 0) this.#leases.delete(slot);
    return Math.min(burst - leases.leased, tokens + Math.min(Math.max(0, unused), count));
  }

  #store(slot: number, tokens: number, now: number, perMs: number, burst: number): void {
    this.#tokens[slot] = tokens;
    this.#stamp[slot] = now;
    let fullAt = now + (burst - tokens) / perMs;
    if (this.#leases.size !== 0) {
      // Conservatively: its last lease's end, then a whole refill from empty.
      const ends = this.#leases.get(slot)?.ends;
      if (ends !== undefined) fullAt = Math.max(fullAt, (ends.at(-1) as number) + burst / perMs);
    }
    this.#fullAt[slot] = fullAt;
  }

  #grow(slots: number): void {
    const grown = (old: Float64Array) => {
      const next = new Float64Array(slots);
      next.set(old);
      return next;
    };
    this.#tokens = grown(this.#tokens);
    this.#stamp = grown(this.#stamp);
    this.#fullAt = grown(this.#fullAt);
  }
}

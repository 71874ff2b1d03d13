import type { TakeResult } from '../access/request-gate.ts';
import type { RouteRateLimit } from '../access/route-gate.ts';
import { BucketTable, MAX_BUCKETS } from './bucket-table.ts';
import { LEASE_TTL_MS, leaseSize, RETURN_AFTER_MS } from './lease-protocol.ts';
import type { RateGrant, RateTake } from './lease-protocol.ts';
import type { ProcessLimiter, RateLimitFigures } from './process-limiter.ts';
import { NO_SLOT, SlotTable } from './slot-table.ts';

/** How long a worker waits for the primary's grant before it decides on its own. */
export const LEASE_TIMEOUT_MS = 250;
/** After a timeout, the worker decides on its own this long before it asks the primary again. */
export const FALLBACK_MS = 1_000;
const SWEEP_EVERY_MS = 10_000;

const OK: TakeResult = Object.freeze({ ok: true });

type Resolve = (result: TakeResult | Promise<TakeResult>) => void;

/** An ask for one bucket's tokens, in flight to the primary. */
interface Pending {
  readonly limit: RouteRateLimit;
  readonly key: string;
  readonly slot: number;
  readonly sentAt: number;
  /** The request that asked, then those that came for the same bucket meanwhile. */
  readonly waiters: Resolve[];
}

export interface LeasedLimiterOptions {
  /** The proxy's worker count: a worker's share of a limit when the primary does not answer. */
  readonly workers: number;
  /** Sends asks to the primary; false when the channel is gone. */
  readonly send: (takes: RateTake[]) => boolean;
  readonly capacity?: number | undefined;
  readonly now?: (() => number) | undefined;
  /** 0: never sweep on a timer. */
  readonly sweepEveryMs?: number | undefined;
  /** Runs `fn` in `ms` (default: an unref'd setTimeout; tests move time by hand). */
  readonly later?: ((fn: () => void, ms: number) => void) | undefined;
}

/**
 * A worker's rate limiter: the buckets are the primary's (the limit holds for the whole proxy,
 * as nginx's shared `limit_req` zones do), and the worker spends tokens it leased from them.
 * A request that finds a token of a live lease, or a refusal remembered until its retry time,
 * is decided here, synchronously; otherwise one ask goes to the primary (batched with the
 * others of the same event-loop turn) and every request for that bucket waits for its grant.
 * The worker tells the primary as soon as it is done with a lease (its last token spent, or
 * RETURN_AFTER_MS over: the rest given back), so the room a lease holds in its bucket frees
 * at once rather than at its end.
 *
 * When the primary does not answer within LEASE_TIMEOUT_MS (a reload compiling on its event
 * loop, a primary stuck), the worker decides for FALLBACK_MS on its own, with its share of the
 * limit (rate / workers, burst / workers, at least 1) in a local bucket: neither open (the
 * upstream unprotected) nor closed (every limited route refused), docs/config.md.
 */
export class LeasedLimiter implements ProcessLimiter {
  readonly #workers: number;
  readonly #send: (takes: RateTake[]) => boolean;
  readonly #now: () => number;
  readonly #later: (fn: () => void, ms: number) => void;
  readonly #slots: SlotTable;
  /** Per slot: the lease's unspent tokens, its id and end, and a refusal's end. */
  #tokens = new Float64Array(0);
  #lease = new Float64Array(0);
  #expires = new Float64Array(0);
  #refusedUntil = new Float64Array(0);
  readonly #pending: (Pending | undefined)[] = [];
  readonly #inFlight = new Map<number, Pending>();
  /** What goes to the primary at the end of this event-loop turn; asks with their waiters. */
  #batch: { take: RateTake; pending: Pending | undefined }[] = [];
  #seq = 0;
  #fallbackUntil = 0;
  readonly #fallback: BucketTable;
  readonly #shares = new WeakMap<RouteRateLimit, RouteRateLimit>();
  #timeouts = 0;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #evict = (slot: number) => {
    // Its grant still answers the waiters (by seq); what it leased is dropped, not spent.
    this.#pending[slot] = undefined;
  };

  constructor(options: LeasedLimiterOptions) {
    this.#workers = options.workers;
    this.#send = options.send;
    this.#now = options.now ?? (() => performance.now());
    this.#later = options.later ?? ((fn, ms) => setTimeout(fn, ms).unref());
    const capacity = options.capacity ?? MAX_BUCKETS;
    const sweepEveryMs = options.sweepEveryMs ?? SWEEP_EVERY_MS;
    this.#slots = new SlotTable(capacity, (n) => this.#grow(n));
    this.#fallback = new BucketTable({ capacity, now: this.#now, sweepEveryMs });
    if (sweepEveryMs > 0) this.#timer = setInterval(() => this.sweep(), sweepEveryMs).unref();
  }

  figures(): RateLimitFigures {
    return {
      buckets: this.#fallback.size,
      evictions: this.#fallback.figures().evictions,
      leaseTimeouts: this.#timeouts,
    };
  }

  take(limit: RouteRateLimit, key: string): TakeResult | Promise<TakeResult> {
    const now = this.#now();
    if (now < this.#fallbackUntil) return this.#fallback.take(this.#share(limit), key);
    let slot = this.#slots.find(limit.scope, key);
    let ended = 0;
    let unused = 0;
    if (slot === NO_SLOT) {
      slot = this.#slots.add(limit.scope, key, this.#evict);
      this.#tokens[slot] = 0;
      this.#lease[slot] = 0;
      this.#expires[slot] = 0;
      this.#refusedUntil[slot] = 0;
      this.#pending[slot] = undefined;
    } else {
      const tokens = this.#tokens[slot] as number;
      if (tokens > 0 && now < (this.#expires[slot] as number)) {
        this.#tokens[slot] = tokens - 1;
        if (tokens === 1) this.#end(limit, key, slot);
        return OK;
      }
      const refusedUntil = this.#refusedUntil[slot] as number;
      if (now < refusedUntil) return { ok: false, retryAfterS: (refusedUntil - now) / 1000 };
      const pending = this.#pending[slot];
      if (pending !== undefined) return new Promise((resolve) => pending.waiters.push(resolve));
      // The lease is spent or over: the primary hears so with this ask and takes back the rest.
      ended = this.#lease[slot] as number;
      unused = ended === 0 ? 0 : tokens;
      this.#lease[slot] = 0;
      this.#tokens[slot] = 0;
    }
    return this.#ask(limit, key, slot, now, ended, unused);
  }

  /** The primary's answers. */
  grant(grants: readonly RateGrant[]): void {
    const now = this.#now();
    for (const grant of grants) {
      const pending = this.#inFlight.get(grant.seq);
      if (pending === undefined) continue; // timed out: decided locally, the lease is left to end
      this.#inFlight.delete(grant.seq);
      const { slot, sentAt, waiters } = pending;
      let tokens = grant.granted;
      const refusedUntil = grant.retryAfterMs > 0 ? sentAt + grant.retryAfterMs : 0;
      const later: Resolve[] = [];
      for (const resolve of waiters) {
        if (tokens > 0) {
          tokens--;
          resolve(OK);
        } else if (refusedUntil > 0) {
          resolve({ ok: false, retryAfterS: Math.max(0, refusedUntil - now) / 1000 });
        } else later.push(resolve);
      }
      const { limit, key } = pending;
      if (this.#pending[slot] === pending) {
        this.#pending[slot] = undefined;
        this.#tokens[slot] = tokens;
        this.#lease[slot] = grant.lease;
        this.#expires[slot] = sentAt + LEASE_TTL_MS;
        this.#refusedUntil[slot] = refusedUntil;
        if (grant.lease !== 0 && tokens === 0) this.#end(limit, key, slot);
        else if (tokens > 0) {
          const lease = grant.lease;
          const giveBack = () => {
            if (this.#lease[slot] === lease) this.#end(limit, key, slot);
          };
          this.#later(giveBack, Math.max(0, sentAt + RETURN_AFTER_MS - now));
        }
      } else if (grant.lease !== 0) {
        // Its entry was evicted meanwhile: the tokens the waiters did not take go back.
        this.#queue(limit, key, 0, 0, grant.lease, tokens);
      }
      // More came than were granted while the bucket still had tokens: they ask again.
      for (const resolve of later) resolve(this.take(limit, key));
    }
  }

  /** Drops entries with nothing live: no tokens to spend, no refusal to remember, no ask. */
  sweep(): number {
    const now = this.#now();
    return this.#slots.removeWhere(
      (slot) =>
        this.#pending[slot] === undefined &&
        now >= (this.#expires[slot] as number) &&
        now >= (this.#refusedUntil[slot] as number),
    );
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#fallback.close();
  }

  #ask(
    limit: RouteRateLimit,
    key: string,
    slot: number,
    now: number,
    ended: number,
    unused: number,
  ): Promise<TakeResult> {
    const pending: Pending = { limit, key, slot, sentAt: now, waiters: [] };
    const seq = ++this.#seq;
    this.#pending[slot] = pending;
    this.#inFlight.set(seq, pending);
    this.#queue(limit, key, seq, leaseSize(limit, this.#workers), ended, unused, pending);
    return new Promise((resolve) => pending.waiters.push(resolve));
  }

  /** Done with the slot's lease: the primary gets its unspent tokens back, and its room. */
  #end(limit: RouteRateLimit, key: string, slot: number): void {
    this.#queue(limit, key, 0, 0, this.#lease[slot] as number, this.#tokens[slot] as number);
    this.#lease[slot] = 0;
    this.#tokens[slot] = 0;
  }

  #queue(
    limit: RouteRateLimit,
    key: string,
    seq: number,
    want: number,
    ended: number,
    unused: number,
    pending?: Pending,
  ): void {
    if (this.#batch.length === 0) setImmediate(() => this.#flush());
    const take = {
      seq,
      scope: limit.scope,
      key,
      ratePerSecond: limit.ratePerSecond,
      burst: limit.burst,
      want,
      ended,
      unused,
    };
    this.#batch.push({ take, pending });
  }

  #flush(): void {
    const batch = this.#batch;
    this.#batch = [];
    // Requests that joined an ask in this turn are spent the moment the grant comes: ask for
    // them all (the primary grants no more than its bucket holds).
    const takes = batch.map(({ take, pending }) =>
      pending === undefined || pending.waiters.length <= take.want
        ? take
        : { ...take, want: pending.waiters.length },
    );
    const seqs = takes.filter((t) => t.seq !== 0).map((t) => t.seq);
    if (!this.#send(takes)) {
      this.#giveUp(seqs);
      return;
    }
    if (seqs.length > 0) this.#later(() => this.#giveUp(seqs), LEASE_TIMEOUT_MS);
  }

  /** Asks the primary did not answer (in time, or at all): decided by the local share. */
  #giveUp(seqs: readonly number[]): void {
    let late = false;
    for (const seq of seqs) {
      const pending = this.#inFlight.get(seq);
      if (pending === undefined) continue;
      late = true;
      this.#inFlight.delete(seq);
      this.#timeouts++;
      if (this.#pending[pending.slot] === pending) this.#pending[pending.slot] = undefined;
      const share = this.#share(pending.limit);
      for (const resolve of pending.waiters) resolve(this.#fallback.take(share, pending.key));
    }
    if (late) this.#fallbackUntil = this.#now() + FALLBACK_MS;
  }

  /** This worker's share of a limit, for when it decides alone. */
  #share(limit: RouteRateLimit): RouteRateLimit {
    let share = this.#shares.get(limit);
    if (share === undefined) {
      share = Object.freeze({
        ...limit,
        ratePerSecond: limit.ratePerSecond / this.#workers,
        burst: Math.max(1, Math.floor(limit.burst / this.#workers)),
      });
      this.#shares.set(limit, share);
    }
    return share;
  }

  #grow(slots: number): void {
    const grown = (old: Float64Array) => {
      const next = new Float64Array(slots);
      next.set(old);
      return next;
    };
    this.#tokens = grown(this.#tokens);
    this.#lease = grown(this.#lease);
    this.#expires = grown(this.#expires);
    this.#refusedUntil = grown(this.#refusedUntil);
  }
}

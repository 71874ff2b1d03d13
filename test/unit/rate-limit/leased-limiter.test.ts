import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TakeResult } from '../../../src/access/request-gate.ts';
import type { RouteRateLimit } from '../../../src/access/route-gate.ts';
import { BucketTable } from '../../../src/rate-limit/bucket-table.ts';
import { RETURN_AFTER_MS } from '../../../src/rate-limit/lease-protocol.ts';
import type { RateGrant, RateTake } from '../../../src/rate-limit/lease-protocol.ts';
import {
  FALLBACK_MS,
  LEASE_TIMEOUT_MS,
  LeasedLimiter,
} from '../../../src/rate-limit/leased-limiter.ts';

const limit = (ratePerSecond: number, burst: number): RouteRateLimit => ({
  scope: 'site a',
  ratePerSecond,
  burst,
  by: 'client_ip',
});

/** Virtual time: a clock and the timers due on it, run in order as it moves. */
class VirtualTime {
  t = 1_000;
  readonly #timers: { at: number; fn: () => void }[] = [];
  readonly now = () => this.t;
  readonly later = (fn: () => void, ms: number) => {
    this.#timers.push({ at: this.t + ms, fn });
    this.#timers.sort((a, b) => a.at - b.at);
  };

  advance(ms: number): void {
    const until = this.t + ms;
    while (this.#timers.length > 0 && (this.#timers[0]?.at ?? Infinity) <= until) {
      const timer = this.#timers.shift();
      if (timer === undefined) break;
      this.t = Math.max(this.t, timer.at);
      timer.fn();
    }
    this.t = until;
  }
}

/** Lets setImmediate callbacks (a worker's flush) and promise reactions run. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A primary and its workers, their IPC two queues the test delivers by hand. */
function cluster(workers: number, time: VirtualTime) {
  const primary = new BucketTable({ now: time.now, sweepEveryMs: 0 });
  const toPrimary: { from: number; takes: RateTake[] }[] = [];
  const toWorkers: { to: number; grants: RateGrant[] }[] = [];
  const limiters = Array.from(
    { length: workers },
    (_, w) =>
      new LeasedLimiter({
        workers,
        now: time.now,
        later: time.later,
        sweepEveryMs: 0,
        send: (takes) => {
          toPrimary.push({ from: w, takes });
          return true;
        },
      }),
  );
  return {
    primary,
    limiters,
    toPrimary,
    /** The primary answers what reached it; answers are queued for the workers. */
    primaryReads() {
      for (const { from, takes } of toPrimary.splice(0)) {
        const grants = primary.answer(takes);
        if (grants.length > 0) toWorkers.push({ to: from, grants });
      }
    },
    workersRead() {
      for (const { to, grants } of toWorkers.splice(0)) limiters[to]?.grant(grants);
    },
    async roundTrip() {
      await turn();
      this.primaryReads();
      this.workersRead();
      await turn();
    },
  };
}

/** Every window of the admissions fits one bucket: n in [t_i, t_j] <= burst + rate * span. */
function assertNoOverAdmission(times: readonly number[], l: RouteRateLimit): void {
  const sorted = [...times].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i; j < sorted.length; j++) {
      const span = ((sorted[j] as number) - (sorted[i] as number)) / 1000;
      const allowed = l.burst + l.ratePerSecond * span + 1e-6;
      if (j - i + 1 > allowed) {
        assert.fail(
          `${j - i + 1} admitted within ${span * 1000} ms from ${sorted[i]}: one bucket admits ${allowed.toFixed(3)}`,
        );
      }
    }
  }
}

/** A small deterministic random source (tests must replay). */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('leased limiter: a worker spends tokens leased from the primary', () => {
  it('asks once, then decides from its lease without asking until it is spent', async () => {
    const time = new VirtualTime();
    const c = cluster(2, time);
    const [w] = c.limiters as [LeasedLimiter];
    const l = limit(100, 100); // leases of 10
    const first = w.take(l, 'k');
    assert.ok(first instanceof Promise, 'nothing leased yet: it asks');
    await c.roundTrip();
    assert.deepEqual(await first, { ok: true });
    for (let i = 0; i < 9; i++) assert.deepEqual(w.take(l, 'k'), { ok: true }, `take ${i}`);
    await turn();
    const sent = c.toPrimary.flatMap((m) => m.takes);
    assert.equal(sent.length, 1, 'ten requests, one ask; then the spent lease is ended');
    assert.deepEqual([sent[0]?.seq, sent[0]?.want, sent[0]?.unused], [0, 0, 0]);
    assert.ok(w.take(l, 'k') instanceof Promise, 'spent: it asks again');
  });

  it('requests that come while an ask is out wait for its grant (one ask for all of them)', async () => {
    const time = new VirtualTime();
    const c = cluster(1, time);
    const [w] = c.limiters as [LeasedLimiter];
    const l = limit(30, 6); // leases of 3
    const waiting = Array.from({ length: 8 }, () => w.take(l, 'k'));
    await turn();
    const asks = c.toPrimary.flatMap((m) => m.takes);
    assert.deepEqual(
      asks.map((t) => t.want),
      [8],
      'one ask, for all eight: they spend their tokens at once',
    );
    await c.roundTrip(); // six granted (the burst), and the bucket is empty: two refused
    const results = await Promise.all(waiting);
    assert.equal(results.filter((r) => r.ok).length, 6, 'the burst of 6, shared by the waiters');
    assert.equal(results.filter((r) => !r.ok).length, 2);
  });

  it('remembers a refusal until its retry time, without asking', async () => {
    const time = new VirtualTime();
    const c = cluster(2, time);
    const [w] = c.limiters as [LeasedLimiter];
    const l = limit(2, 1);
    const first = w.take(l, 'k');
    await c.roundTrip();
    assert.equal((await first).ok, true);
    const second = w.take(l, 'k');
    await c.roundTrip();
    const refused = (await second) as Extract<TakeResult, { ok: false }>;
    assert.equal(refused.ok, false);
    assert.ok(refused.retryAfterS > 0.4 && refused.retryAfterS <= 0.5, String(refused.retryAfterS));
    time.advance(100);
    const cached = w.take(l, 'k');
    assert.ok(!(cached instanceof Promise), 'decided at once');
    assert.equal(cached.ok, false);
    await turn();
    assert.equal(c.toPrimary.length, 0, 'nothing asked');
    time.advance(400);
    assert.ok(w.take(l, 'k') instanceof Promise, 'the retry time has come: it asks');
  });

  it(`gives back what it has not spent ${RETURN_AFTER_MS} ms after it asked: the bucket has it again`, async () => {
    const time = new VirtualTime();
    const c = cluster(1, time);
    const [w] = c.limiters as [LeasedLimiter];
    const l = limit(100, 10); // leases of 5
    const first = w.take(l, 'k');
    await c.roundTrip();
    assert.equal((await first).ok, true, 'one spent, four held; five left in the bucket');
    time.advance(RETURN_AFTER_MS);
    await turn();
    const sent = c.toPrimary.flatMap((m) => m.takes);
    assert.deepEqual(
      sent.map((t) => [t.seq, t.want, t.unused]),
      [[0, 0, 4]],
      'the four unspent go back, no answer wanted',
    );
    c.primaryReads();
    const now = c.primary.lease({
      seq: 99,
      scope: l.scope,
      key: 'k',
      ratePerSecond: 100,
      burst: 10,
      want: 100,
      ended: 0,
      unused: 0,
    });
    // Five refilled in 50 ms, but only into the room the lease left: 5; plus the four back.
    assert.equal(now.granted, 9);
  });

  it('decides with its share of the limit when the primary does not answer in time', async () => {
    const time = new VirtualTime();
    const c = cluster(2, time);
    const [w] = c.limiters as [LeasedLimiter];
    const l = limit(10, 10);
    const first = w.take(l, 'k');
    await turn();
    c.toPrimary.length = 0; // the ask is lost
    time.advance(LEASE_TIMEOUT_MS);
    assert.equal((await first).ok, true);
    assert.equal(w.figures().leaseTimeouts, 1);
    let admitted = 1;
    for (let i = 0; i < 20; i++) {
      const r = w.take(l, 'k');
      assert.ok(!(r instanceof Promise), 'no more asks for a while');
      if (r.ok) admitted++;
    }
    assert.equal(admitted, 5, 'half the burst: its share of two workers');
    time.advance(FALLBACK_MS);
    assert.ok(w.take(l, 'k') instanceof Promise, 'then it asks the primary again');
  });

  it('decides with its share at once when the channel to the primary is gone', async () => {
    const time = new VirtualTime();
    const w = new LeasedLimiter({
      workers: 4,
      now: time.now,
      later: time.later,
      sweepEveryMs: 0,
      send: () => false,
    });
    assert.equal((await w.take(limit(8, 8), 'k')).ok, true);
    assert.equal((await w.take(limit(8, 8), 'k')).ok, true);
    assert.equal((await w.take(limit(8, 8), 'k')).ok, false, 'a share of 2');
  });
});

describe('leased limiter: several workers never admit more than one bucket would', () => {
  const cases: [string, number, RouteRateLimit][] = [
    ['2 workers, 100/s burst 10 (leases of 2)', 2, limit(100, 10)],
    ['3 workers, 20/s burst 1 (leases of 1)', 3, limit(20, 1)],
    ['4 workers, 1000/s burst 50 (leases of 6)', 4, limit(1_000, 50)],
    ['2 workers, 1000/s burst 1000 (leases of 100)', 2, limit(1_000, 1_000)],
    ['2 workers, 5/s burst 5', 2, limit(5, 5)],
  ];
  for (const [title, workers, l] of cases) {
    it(`${title}: random arrivals, random IPC delays, every window checked`, async () => {
      for (let seed = 1; seed <= 3; seed++) {
        const rand = random(seed * 7919 + workers);
        const time = new VirtualTime();
        const c = cluster(workers, time);
        const admitted = new Map<string, number[]>([
          ['a', []],
          ['b', []],
        ]);
        const arrived = new Map<string, number>([
          ['a', 0],
          ['b', 0],
        ]);
        const record = (key: string) => (r: TakeResult) => {
          if (r.ok) admitted.get(key)?.push(time.t);
        };
        const start = time.t;
        for (let step = 0; step < 1_500; step++) {
          time.advance(rand() * 4);
          const arrivals = Math.floor(rand() * 4);
          for (let i = 0; i < arrivals; i++) {
            const key = rand() < 0.7 ? 'a' : 'b';
            arrived.set(key, (arrived.get(key) ?? 0) + 1);
            const worker = c.limiters[Math.floor(rand() * workers)] as LeasedLimiter;
            const r = worker.take(l, key);
            if (r instanceof Promise) void r.then(record(key));
            else record(key)(r);
          }
          await turn(); // the workers' batches go out
          // IPC is not instant: each direction is read on some steps, not every one.
          if (rand() < 0.5) c.primaryReads();
          if (rand() < 0.5) c.workersRead();
          await turn();
        }
        const seconds = (time.t - start) / 1000;
        for (const [key, times] of admitted) {
          assertNoOverAdmission(times, l);
          // Under-admission: what one bucket would have admitted of these arrivals, at most.
          const most = Math.min(arrived.get(key) ?? 0, l.burst + l.ratePerSecond * seconds);
          assert.ok(
            times.length >= 0.7 * most,
            `seed ${seed}: ${times.length} admitted of at most ${most.toFixed(0)}`,
          );
        }
      }
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TakeResult } from '../../../src/access/request-gate.ts';
import { compileGate } from '../../../src/access/route-gate.ts';
import type { RouteRateLimit } from '../../../src/access/route-gate.ts';
import { BucketTable } from '../../../src/rate-limit/bucket-table.ts';
import { LEASE_TTL_MS } from '../../../src/rate-limit/lease-protocol.ts';
import type { RateTake } from '../../../src/rate-limit/lease-protocol.ts';

/** A clock the test moves by hand (milliseconds). */
function clock() {
  const c = { t: 1_000, now: () => c.t };
  return c;
}

const limit = (ratePerSecond: number, burst: number, scope = 'site a'): RouteRateLimit => ({
  scope,
  ratePerSecond,
  burst,
  by: 'client_ip',
});

const table = (c: { now: () => number }, capacity?: number) =>
  new BucketTable({ now: c.now, capacity, sweepEveryMs: 0 });

/** How many takes pass in a row right now, up to `max`. */
function drain(t: BucketTable, l: RouteRateLimit, key: string, max = 1_000): number {
  let n = 0;
  while (n < max && t.take(l, key).ok) n++;
  return n;
}

const retryAfter = (r: TakeResult) => (r.ok ? undefined : r.retryAfterS);

describe('token buckets: refill, burst, Retry-After', () => {
  it('admits the burst at once, then refuses with the time until the next token', () => {
    const c = clock();
    const t = table(c);
    const l = limit(5, 5);
    assert.equal(drain(t, l, '10.0.0.1'), 5);
    const refused = t.take(l, '10.0.0.1');
    assert.equal(refused.ok, false);
    assert.ok(Math.abs((retryAfter(refused) ?? 0) - 0.2) < 1e-9, 'one token every 200 ms');
  });

  it('refills at the rate, never above the burst', () => {
    const c = clock();
    const t = table(c);
    const l = limit(5, 5);
    drain(t, l, 'k');
    c.t += 100;
    const early = t.take(l, 'k');
    assert.ok(Math.abs((retryAfter(early) ?? 0) - 0.1) < 1e-9, 'half a token: 100 ms to go');
    c.t += 100;
    assert.equal(drain(t, l, 'k'), 1, 'one token after 200 ms');
    c.t += 60_000;
    assert.equal(drain(t, l, 'k'), 5, 'a minute idle refills to the burst, not 300');
  });

  it('a rate below 1/s: Retry-After in whole seconds is rounded up by the gate, never 0', () => {
    const c = clock();
    const t = table(c);
    const l = limit(0.5, 1);
    assert.equal(t.take(l, 'k').ok, true);
    assert.equal(retryAfter(t.take(l, 'k')), 2);
    c.t += 1_999;
    const almost = retryAfter(t.take(l, 'k')) ?? 0;
    assert.ok(almost > 0 && almost < 0.01);
    assert.equal(Math.max(1, Math.ceil(almost)), 1, 'the header the gate builds');
    c.t += 1;
    assert.equal(t.take(l, 'k').ok, true);
  });

  it('counts a third of a second at 3/s as a whole token (no float drift)', () => {
    const c = clock();
    const t = table(c);
    const l = limit(3, 1);
    assert.equal(t.take(l, 'k').ok, true);
    for (let i = 0; i < 30; i++) {
      c.t += 1000 / 3;
      assert.equal(t.take(l, 'k').ok, true, `take ${i}`);
      assert.equal(t.take(l, 'k').ok, false);
    }
  });

  it('keeps one bucket per scope and key: keys and scopes do not share, by: site is one key', () => {
    const c = clock();
    const t = table(c);
    const a = limit(1, 2, 'site a');
    const b = limit(1, 2, 'route a /v1/');
    assert.equal(drain(t, a, '127.0.0.2'), 2);
    assert.equal(drain(t, a, '127.0.0.3'), 2, 'another client has its own bucket');
    assert.equal(drain(t, b, '127.0.0.2'), 2, 'another scope has its own bucket');
    assert.equal(drain(t, a, ''), 2);
    assert.equal(drain(t, a, ''), 0, "by: site: every client takes from the one key ''");
    assert.equal(t.size, 4);
  });

  it('a reload that lowers the burst caps the bucket at once; one that raises it refills to it', () => {
    const c = clock();
    const t = table(c);
    assert.equal(drain(t, limit(10, 10), 'k', 3), 3);
    assert.equal(drain(t, limit(10, 2), 'k'), 2, 'seven left, capped at the new burst of 2');
    c.t += 10_000;
    assert.equal(drain(t, limit(10, 20), 'k'), 20);
  });

  it('the default burst is one second of the rate, at least 1', () => {
    const gate = (rps: number) =>
      compileGate('a', '/', { rate_limit: { requests_per_second: rps, by: 'site' } }, {});
    assert.equal(gate(50)?.rateLimit?.burst, 50);
    assert.equal(gate(2.5)?.rateLimit?.burst, 3);
    assert.equal(gate(0.1)?.rateLimit?.burst, 1);
  });

  it('a passing take returns one shared frozen answer (nothing allocated for it)', () => {
    const c = clock();
    const t = table(c);
    const l = limit(1_000_000, 10_000_000);
    const first = t.take(l, 'k');
    assert.equal(t.take(l, 'k'), first);
    assert.ok(Object.isFrozen(first));
  });
});

describe('token buckets: the bound on memory', () => {
  it('holds at most its capacity, dropping the least recently used (which starts full again)', () => {
    const c = clock();
    const t = table(c, 3);
    const l = limit(1, 2);
    for (const key of ['a', 'b', 'c']) assert.equal(drain(t, l, key), 2);
    assert.equal(t.take(l, 'a').ok, false, 'a is used again: now the most recent');
    assert.equal(drain(t, l, 'd'), 2, 'd takes b’s place');
    assert.equal(t.size, 3);
    assert.equal(t.figures().evictions, 1);
    assert.equal(drain(t, l, 'b'), 2, 'b was forgotten: a full burst again (and c goes)');
    assert.equal(drain(t, l, 'a'), 0, 'a was kept, still empty');
    assert.equal(t.figures().evictions, 2);
  });

  it('a full bucket dropped for room is no eviction: it lost nothing', () => {
    const c = clock();
    const t = table(c, 2);
    const l = limit(10, 1);
    t.take(l, 'a');
    t.take(l, 'b');
    c.t += 1_000;
    t.take(l, 'c');
    assert.equal(t.figures().evictions, 0);
  });

  it('a spray of a million addresses keeps the table at its capacity', () => {
    const c = clock();
    const t = table(c, 1_000);
    const l = limit(1, 5);
    for (let i = 0; i < 1_000_000; i++) {
      t.take(l, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      if (i % 1_000 === 0) c.t += 1;
    }
    assert.equal(t.size, 1_000);
  });

  it('sweep drops the buckets that have refilled and keeps the rest', () => {
    const c = clock();
    const t = table(c);
    t.take(limit(10, 1), 'fast');
    t.take(limit(0.1, 1), 'slow');
    c.t += 100;
    assert.equal(t.sweep(), 1);
    assert.equal(t.size, 1);
    c.t += 10_000;
    assert.equal(t.sweep(), 1);
    assert.equal(t.size, 0);
  });
});

describe('token buckets: leases to workers (the primary)', () => {
  let seq = 0;
  const ask = (l: RouteRateLimit, key: string, want: number, ended = 0, unused = 0): RateTake => ({
    seq: ++seq,
    scope: l.scope,
    key,
    ratePerSecond: l.ratePerSecond,
    burst: l.burst,
    want,
    ended,
    unused,
  });

  it('grants what the bucket holds, up to what was asked, and says when more will be there', () => {
    const c = clock();
    const t = table(c);
    const l = limit(10, 5);
    const first = t.lease(ask(l, 'k', 3));
    assert.equal(first.granted, 3);
    assert.equal(first.retryAfterMs, 0);
    const second = t.lease(ask(l, 'k', 3));
    assert.equal(second.granted, 2, 'never more than the bucket holds');
    assert.ok(second.retryAfterMs > 0);
    assert.notEqual(first.lease, second.lease);
    const none = t.lease(ask(l, 'k', 3));
    assert.equal(none.granted, 0);
    assert.equal(none.lease, 0);
  });

  it('while a lease runs, the bucket does not refill into its room; from its end it does', () => {
    const c = clock();
    const t = table(c);
    const l = limit(1_000, 10);
    assert.equal(t.lease(ask(l, 'k', 10)).granted, 10);
    c.t += LEASE_TTL_MS / 2; // 50 tokens' worth of time: none may come back yet
    const during = t.lease(ask(l, 'k', 10));
    assert.equal(during.granted, 0, 'tokens held by workers + tokens in the bucket <= burst');
    assert.ok(during.retryAfterMs > 0 && during.retryAfterMs <= LEASE_TTL_MS / 2 + 1);
    c.t += LEASE_TTL_MS / 2;
    // The workers may have spent all ten just before the end: the bucket refills from there.
    assert.equal(t.lease(ask(l, 'k', 10)).granted, 0, 'the lease just ended: nothing refilled');
    c.t += 10;
    assert.equal(t.lease(ask(l, 'k', 10)).granted, 10, 'ten tokens at 1,000/s after its end');
  });

  it('a lease ended early gives back its unspent tokens (never more than it had)', () => {
    const c = clock();
    const t = table(c);
    const l = limit(1, 4);
    const g = t.lease(ask(l, 'k', 4));
    assert.equal(g.granted, 4);
    const back = t.lease(ask(l, 'k', 4, g.lease, 99));
    assert.equal(back.granted, 4, 'all four unspent came back, not 99');
    const spent = t.lease(ask(l, 'k', 4, back.lease, 0));
    assert.equal(spent.granted, 0);
    const unknown = t.lease(ask(l, 'k', 4, 12345, 4));
    assert.equal(unknown.granted, 0, 'an unknown lease gives nothing back');
  });

  it('a bucket with a lease running is not swept until the lease is over and it refilled', () => {
    const c = clock();
    const t = table(c);
    const l = limit(100, 1);
    t.lease(ask(l, 'k', 1));
    c.t += 20; // full by its rate, but the lease still runs
    assert.equal(t.sweep(), 0);
    c.t += LEASE_TTL_MS;
    assert.equal(t.sweep(), 1);
  });
});

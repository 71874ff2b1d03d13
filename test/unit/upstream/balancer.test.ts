import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UpstreamTarget } from '../../../src/routing/route.ts';
import { Balancer } from '../../../src/upstream/balancer.ts';
import { TargetState } from '../../../src/upstream/target-state.ts';

const target = (url: string, weight = 1): UpstreamTarget => ({
  url,
  origin: url,
  basePath: '',
  pathname: '/',
  weight,
});
const states = (...weights: number[]) =>
  weights.map((w, i) => new TargetState('s', '/', target(`http://u${i}`, w)));
const names = (picked: TargetState[]) => picked.map((s) => s.target.url.slice(-2)).join(' ');

describe('Balancer', () => {
  it('round robin with weights 5,1,1 is smooth: a a b a c a a', () => {
    const b = new Balancer('round_robin');
    const all = states(5, 1, 1);
    const picked = Array.from({ length: 7 }, () => b.pick(all, 0, undefined, () => undefined));
    assert.equal(names(picked), 'u0 u0 u1 u0 u2 u0 u0');
  });

  it('skips an ejected upstream, and an upstream failing its health check', () => {
    const b = new Balancer('round_robin');
    const all = states(1, 1, 1);
    (all[1] as TargetState).ejectedUntil = 1_000;
    (all[2] as TargetState).activeHealthy = false;
    const picked = Array.from({ length: 4 }, () => b.pick(all, 500, undefined, () => undefined));
    assert.equal(names(picked), 'u0 u0 u0 u0');
    // The ejection is over at 1000.
    assert.ok(
      Array.from({ length: 4 }, () => b.pick(all, 1_000, undefined, () => undefined)).includes(
        all[1] as TargetState,
      ),
    );
  });

  it('panics when none is available: tells, and picks among all', () => {
    const b = new Balancer('round_robin');
    const all = states(1, 1);
    for (const s of all) s.activeHealthy = false;
    let panics = 0;
    const picked = Array.from({ length: 4 }, () => b.pick(all, 0, undefined, () => panics++));
    assert.equal(panics, 4);
    assert.equal(names(picked), 'u0 u1 u0 u1');
  });

  it('a retry avoids what the request tried, and tries again when it tried them all', () => {
    const b = new Balancer('round_robin');
    const all = states(1, 1, 1);
    const [u0, u1, u2] = all as [TargetState, TargetState, TargetState];
    assert.equal(
      b.pick(all, 0, [u0, u1], () => undefined),
      u2,
    );
    assert.ok(all.includes(b.pick(all, 0, [u0, u1, u2], () => undefined)));
  });

  it('least_request picks the fewest in flight per weight, ties going round', () => {
    const b = new Balancer('least_request');
    const all = states(1, 1, 2);
    const [u0, u1, u2] = all as [TargetState, TargetState, TargetState];
    u0.inFlight = 3;
    u1.inFlight = 1;
    u2.inFlight = 3; // (3+1)/2 = 2 > (1+1)/1
    assert.equal(
      b.pick(all, 0, undefined, () => undefined),
      u1,
    );
    u1.inFlight = 0;
    u0.inFlight = 0;
    u2.inFlight = 1; // every load is 1: ties rotate
    const tied = new Set(
      Array.from({ length: 6 }, () => b.pick(all, 0, undefined, () => undefined)),
    );
    assert.equal(tied.size, 3);
  });

  it('random honours weights over many picks', () => {
    const b = new Balancer('random');
    const all = states(3, 1);
    let heavy = 0;
    for (let i = 0; i < 4_000; i++)
      if (b.pick(all, 0, undefined, () => undefined) === all[0]) heavy++;
    assert.ok(heavy > 2_800 && heavy < 3_200, `heavy picked ${heavy} of 4000`);
  });
});

describe('TargetState passive health', () => {
  const passive = { consecutiveFailures: 3, ejectionMs: 1_000 };

  it('ejects after N failures in a row; a success in between resets the count', () => {
    const s = states(1)[0] as TargetState;
    assert.equal(s.failed('reset', 0, passive), false);
    assert.equal(s.failed('reset', 0, passive), false);
    s.succeeded();
    assert.equal(s.failed('reset', 0, passive), false);
    assert.equal(s.failed('reset', 0, passive), false);
    assert.equal(s.failed('refused', 0, passive), true);
    assert.equal(s.available(999), false);
    assert.equal(s.available(1_000), true);
    assert.equal(s.ejections, 1);
  });

  it('back from an ejection, one failure ejects it again; one success clears it', () => {
    const s = states(1)[0] as TargetState;
    for (let i = 0; i < 3; i++) s.failed('reset', 0, passive);
    assert.equal(s.failed('reset', 1_000, passive), true, 'probation');
    s.succeeded();
    assert.equal(s.failed('reset', 3_000, passive), false, 'cleared');
  });

  it('counts failures for the metrics even with passive health off', () => {
    const s = states(1)[0] as TargetState;
    for (let i = 0; i < 10; i++) assert.equal(s.failed('bad_status', 0, undefined), false);
    assert.equal(s.failures.get('bad_status'), 10);
    assert.equal(s.available(0), true);
  });
});

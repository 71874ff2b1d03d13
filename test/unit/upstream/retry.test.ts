import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIN_RETRIES_PER_WINDOW, RetryBudget } from '../../../src/upstream/retry-budget.ts';
import { replayable } from '../../../src/upstream/retry-policy.ts';

const req = (method: string) => method;

describe('replayable', () => {
  it('retries a failure to connect for any method without a body', () => {
    for (const f of ['refused', 'connect_timeout', 'dns'] as const) {
      assert.equal(replayable(req('POST'), false, f), true);
      assert.equal(replayable(req('GET'), false, f), true);
    }
  });

  it('retries a reset or a 502/503 only for idempotent methods', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) {
      assert.equal(replayable(req(m), false, 'reset'), true, m);
      assert.equal(replayable(req(m), false, 'bad_status'), true, m);
    }
    for (const m of ['POST', 'PATCH']) {
      assert.equal(replayable(req(m), false, 'reset'), false, m);
      assert.equal(replayable(req(m), false, 'bad_status'), false, m);
    }
  });

  it('never retries a request with a body, nor a response timeout', () => {
    assert.equal(replayable(req('PUT'), true, 'refused'), false);
    assert.equal(replayable(req('GET'), true, 'reset'), false);
    assert.equal(replayable(req('GET'), false, 'timeout'), false);
    assert.equal(replayable(req('GET'), false, 'protocol'), false);
  });
});

describe('RetryBudget', () => {
  it('allows budget_percent of the last 10 s of requests, with a floor', () => {
    const budget = new RetryBudget();
    let allowed = 0;
    for (let i = 0; i < 1_000; i++) {
      budget.request(5_000);
      if (budget.tryRetry(5_000, 20)) allowed++;
    }
    assert.equal(allowed, 200);
  });

  it('always allows the floor, even with no traffic', () => {
    const budget = new RetryBudget();
    let allowed = 0;
    for (let i = 0; i < 10; i++) if (budget.tryRetry(0, 20)) allowed++;
    assert.equal(allowed, MIN_RETRIES_PER_WINDOW);
  });

  it('forgets what is older than 10 s', () => {
    const budget = new RetryBudget();
    for (let i = 0; i < 100; i++) budget.request(1_000);
    for (let i = 0; i < 20; i++) assert.equal(budget.tryRetry(1_000, 20), true);
    assert.equal(budget.tryRetry(1_000, 20), false);
    assert.equal(budget.tryRetry(11_500, 20), true, 'a new window');
  });
});

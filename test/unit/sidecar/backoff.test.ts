import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, WATCH_BACKOFF } from '../../../src/sidecar/backoff.ts';

describe('backoffDelay', () => {
  it('doubles from 1 s to a 30 s cap without jitter', () => {
    const none = () => 0;
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 20].map((n) => backoffDelay(n, WATCH_BACKOFF, none)),
      [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
    );
  });

  it('jitters down by at most a quarter and never leaves [1 s, 30 s]', () => {
    const full = () => 0.999999;
    assert.equal(backoffDelay(0, WATCH_BACKOFF, full), 1_000);
    assert.equal(backoffDelay(3, WATCH_BACKOFF, full), 6_000);
    assert.equal(backoffDelay(10, WATCH_BACKOFF, full), 22_500);
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(i % 8, WATCH_BACKOFF);
      assert.ok(delay >= 1_000 && delay <= 30_000, String(delay));
    }
  });
});

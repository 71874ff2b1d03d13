import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { editDistance, nearestKey } from '../../../src/config/nearest-key.ts';

const ROUTE_KEYS = ['path', 'upstream', 'upstreams', 'timeout_ms', 'timeouts', 'strip_prefix'];

describe('nearestKey', () => {
  it('counts a dropped, added or changed letter, and two swapped ones, as one edit', () => {
    const cases: [string, string, number][] = [
      ['strip_prefx', 'strip_prefix', 1],
      ['upstreamm', 'upstream', 1],
      ['upstraem', 'upstream', 1],
      ['timeuot_ms', 'timeout_ms', 1],
      ['pathh', 'path', 1],
      ['kitten', 'sitting', 3],
      ['', 'abc', 3],
      ['same', 'same', 0],
    ];
    for (const [a, b, distance] of cases) {
      assert.equal(editDistance(a, b), distance, `${a} -> ${b}`);
      assert.equal(editDistance(b, a), distance, `${b} -> ${a}`);
    }
  });

  it('suggests the closest known key, ignoring case', () => {
    assert.equal(nearestKey('strip_prefx', ROUTE_KEYS), 'strip_prefix');
    assert.equal(nearestKey('upstrem', ROUTE_KEYS), 'upstream');
    assert.equal(nearestKey('Upstreams', ROUTE_KEYS), 'upstreams');
    assert.equal(nearestKey('timeuot_ms', ROUTE_KEYS), 'timeout_ms');
  });

  it('suggests nothing when no key is close: one edit per three letters, at least one', () => {
    assert.equal(nearestKey('colour', ROUTE_KEYS), undefined);
    assert.equal(nearestKey('pt', ROUTE_KEYS), undefined);
    assert.equal(nearestKey('paht', ROUTE_KEYS), 'path');
    assert.equal(nearestKey('x', []), undefined);
  });
});

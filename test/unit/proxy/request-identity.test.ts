import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identify } from '../../../src/proxy/request-identity.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('identify', () => {
  it('keeps a usable X-Request-Id from a trusted peer only', () => {
    const raw = ['X-Request-Id', 'lb-7f3a.01'];
    assert.equal(identify(raw, true).id, 'lb-7f3a.01');
    assert.notEqual(identify(raw, false).id, 'lb-7f3a.01');
    for (const bad of ['', 'a b', 'x'.repeat(201), 'id"quote', 'caf\u00e9']) {
      assert.notEqual(identify(['x-request-id', bad], true).id, bad, JSON.stringify(bad));
    }
    const two = ['x-request-id', 'one', 'X-Request-ID', 'two'];
    assert.ok(!['one', 'two'].includes(identify(two, true).id), 'two ids: neither');
  });

  it('passes a valid traceparent on as it is, and reads a later version as 00', () => {
    const valid = `00-${TRACE}-${PARENT}-01`;
    const kept = identify(['traceparent', valid], false);
    assert.equal(kept.traceparent, valid);
    assert.equal(kept.traceId, TRACE);
    assert.equal(kept.keepTracestate, true);
    const later = identify(['traceparent', `cc-${TRACE}-${PARENT}-01-more`], false);
    assert.equal(later.traceparent, `00-${TRACE}-${PARENT}-01`);
    assert.equal(later.traceId, TRACE);
  });

  it('replaces an invalid traceparent, and drops its tracestate', () => {
    for (const bad of [
      `ff-${TRACE}-${PARENT}-01`,
      `00-${'0'.repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${PARENT}-01`,
      `00-${TRACE}-${PARENT}-01-extra`,
      `00-${TRACE}-${PARENT}`,
      'nonsense',
    ]) {
      const identity = identify(['traceparent', bad], true);
      assert.match(identity.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, bad);
      assert.notEqual(identity.traceId, TRACE, bad);
      assert.equal(identity.keepTracestate, false, bad);
    }
    const twice = identify(
      ['traceparent', `00-${TRACE}-${PARENT}-01`, 'traceparent', `00-${TRACE}-${PARENT}-01`],
      false,
    );
    assert.notEqual(twice.traceId, TRACE, 'two traceparent headers: neither is the trace');
  });

  it('starts a new trace and id for each request that brings none', () => {
    const a = identify([], false);
    const b = identify([], false);
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.traceId, b.traceId);
    assert.equal(a.traceparent.slice(3, 35), a.traceId);
  });
});

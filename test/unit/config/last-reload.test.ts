import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastReload } from '../../../src/config/last-reload.ts';

describe('lastReload', () => {
  const now = new Date('2026-05-06T07:08:09.010Z');

  it('records the time and outcome, and a code only for a failure', () => {
    assert.deepEqual(lastReload('applied', undefined, now), {
      time: '2026-05-06T07:08:09.010Z',
      outcome: 'applied',
    });
    assert.deepEqual(lastReload('unchanged', 'ERR_CONFIG_INVALID', now), {
      time: '2026-05-06T07:08:09.010Z',
      outcome: 'unchanged',
    });
    assert.deepEqual(lastReload('failed', 'ERR_CONFIG_PARSE', now), {
      time: '2026-05-06T07:08:09.010Z',
      outcome: 'failed',
      code: 'ERR_CONFIG_PARSE',
    });
  });

  it('keeps only registered codes: anything else is ERR_INTERNAL (C3)', () => {
    for (const code of [undefined, '/etc/proxy.yaml: cannot read', 'toString', 'ERR_NOPE']) {
      assert.equal(lastReload('failed', code, now).code, 'ERR_INTERNAL', String(code));
    }
  });
});

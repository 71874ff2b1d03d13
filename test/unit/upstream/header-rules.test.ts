import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyToFlatHeaders,
  applyToHeaderObject,
  compileHeaderRules,
} from '../../../src/routing/header-rules.ts';
import type { HeaderRules } from '../../../src/routing/header-rules.ts';

describe('header rules', () => {
  const rules = compileHeaderRules({
    set: { 'X-Env': 'prod' },
    add: { Via: 'rp' },
    remove: ['X-Debug'],
  }) as HeaderRules;

  it('request side: remove, then set (replacing every value), then add, any case', () => {
    const out = applyToFlatHeaders(rules, [
      'Host',
      'a',
      'X-ENV',
      'dev',
      'x-env',
      'test',
      'X-Debug',
      '1',
      'Via',
      'lb',
    ]);
    assert.deepEqual(out, ['Host', 'a', 'Via', 'lb', 'x-env', 'prod', 'via', 'rp']);
  });

  it('response side: the same on the header object writeHead takes', () => {
    const out = applyToHeaderObject(rules, {
      'x-debug': 'y',
      'x-env': ['a', 'b'],
      via: 'up',
      server: 's',
    });
    assert.deepEqual(out, { via: ['up', 'rp'], server: 's', 'x-env': 'prod' });
  });

  it('compiles no rules to nothing', () => {
    assert.equal(compileHeaderRules(undefined), undefined);
    assert.equal(compileHeaderRules({ set: {}, add: {}, remove: [] }), undefined);
  });
});

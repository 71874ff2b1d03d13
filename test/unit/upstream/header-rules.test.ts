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

describe('header rules and underscore spellings', () => {
  it('a removed or set name also drops its underscore alias, whichever way the rule spells it', () => {
    const dash = compileHeaderRules({
      set: { 'X-Env': 'prod' },
      remove: ['X-Debug'],
    }) as HeaderRules;
    assert.deepEqual(applyToFlatHeaders(dash, ['X_Env', 'a', 'x_debug', '1', 'x_other', 'k']), [
      'x_other',
      'k',
      'x-env',
      'prod',
    ]);
    const under = compileHeaderRules({ remove: ['X_Debug'] }) as HeaderRules;
    assert.deepEqual(applyToFlatHeaders(under, ['X-Debug', '1', 'x_debug', '2', 'a', 'b']), [
      'a',
      'b',
    ]);
  });
});

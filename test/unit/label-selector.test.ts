import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchesLabels, parseLabelSelector } from '../label-selector.ts';
import type { Requirement } from '../label-selector.ts';

const parse = (text: string): Requirement[] => {
  const parsed = parseLabelSelector(text);
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed;
};
const SVC = 'kubernetes.io/service-name';

describe("the fake API's label selector parsing", () => {
  it('parses equality, inequality, set-based and existence requirements', () => {
    assert.deepEqual(parse(`${SVC}=users`), [{ key: SVC, op: 'in', values: ['users'] }]);
    assert.deepEqual(parse(`${SVC}==users`), [{ key: SVC, op: 'in', values: ['users'] }]);
    assert.deepEqual(parse(`${SVC} in (a,b)`), [{ key: SVC, op: 'in', values: ['a', 'b'] }]);
    assert.deepEqual(parse(`${SVC} in ( a , b )`), [{ key: SVC, op: 'in', values: ['a', 'b'] }]);
    assert.deepEqual(parse('tier notin (web),app!=x,env,!legacy'), [
      { key: 'tier', op: 'notin', values: ['web'] },
      { key: 'app', op: 'notin', values: ['x'] },
      { key: 'env', op: 'exists' },
      { key: 'legacy', op: '!exists' },
    ]);
    assert.deepEqual(parse(''), []);
  });

  it('refuses what the API server refuses', () => {
    for (const bad of [`${SVC} in a,b`, 'a in (b', '=x', 'a=b c', 'in (a)x']) {
      assert.ok('error' in (parseLabelSelector(bad) as object), bad);
    }
  });

  it('matches labels the way the API server selects objects', () => {
    const labels = { [SVC]: 'users', tier: 'web' };
    assert.equal(matchesLabels(parse(`${SVC} in (orders,users)`), labels), true);
    assert.equal(matchesLabels(parse(`${SVC} in (orders)`), labels), false);
    assert.equal(matchesLabels(parse(`${SVC} in ()`), labels), false, 'in () is in ("")');
    assert.equal(matchesLabels(parse(`${SVC}=users,tier=web`), labels), true);
    assert.equal(matchesLabels(parse(`${SVC}=users,tier!=web`), labels), false);
    assert.equal(
      matchesLabels(parse('absent notin (x)'), labels),
      true,
      'notin matches a missing key',
    );
    assert.equal(matchesLabels(parse('!tier'), labels), false);
    assert.equal(matchesLabels(parse(`${SVC}=users`), undefined), false);
    assert.equal(matchesLabels([], undefined), true);
  });
});

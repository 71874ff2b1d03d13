import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigYaml } from '../../../src/config/parse.ts';
import { ProxyError } from '../../../src/errors.ts';

const parse = (text: string) => parseConfigYaml(Buffer.from(text), 'test.yaml');
const parseError = (message: RegExp) => (err: unknown) =>
  err instanceof ProxyError && err.code === 'ERR_CONFIG_PARSE' && message.test(err.message);

describe('parseConfigYaml', () => {
  it('reads YAML 1.2 core scalars the same way on every path', () => {
    const { value } = parse('d: 2026-11-26\ny: yes\nn: ~\nk: 0o17\nm: {"<<": {a: 1}}\n');
    assert.deepEqual(value, { d: '2026-11-26', y: 'yes', n: null, k: 15, m: { '<<': { a: 1 } } });
  });

  it('accepts a few ordinary aliases', () => {
    const { value } = parse('x: &u http://a\ny: [*u, *u]\n');
    assert.deepEqual(value, { x: 'http://a', y: ['http://a', 'http://a'] });
  });

  it('rejects an alias that refers to itself (a cycle)', () => {
    assert.throws(() => parse('a: &a [*a]\n'), parseError(/aliases expand/));
  });

  it('rejects an alias bomb', () => {
    const levels = ['a: &a [x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    assert.throws(() => parse(levels.join('\n')), parseError(/alias/i));
  });

  it('reports syntax errors with the line, from the careful parser', () => {
    assert.throws(() => parse('a: 1\na: 2\n'), parseError(/unique.*line 2/));
    assert.throws(() => parse('a: [1\n'), parseError(/line \d/));
    assert.throws(() => parse('a: 1\n---\nb: 2\n'), parseError(/multiple documents/i));
  });

  it('finds the line of a value only when asked, for a valid document too', () => {
    const parsed = parse('sites:\n  - name: a\n    routes:\n      - path: /x\n');
    assert.equal(parsed.lineOf(['sites', 0, 'routes', 0, 'path']), 4);
    assert.equal(parsed.lineOf(['sites', 0, 'missing']), 2, 'a missing key points at its parent');
  });
});

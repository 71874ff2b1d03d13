import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jsYaml from 'js-yaml';
import { parseConfigYaml } from '../../../src/config/parse.ts';
import { splitSiteBlocks } from '../../../src/config/site-blocks.ts';
import { ProxyError } from '../../../src/errors.ts';

const parse = (text: string) => parseConfigYaml(Buffer.from(text), 'test.yaml').value;
/** What the whole-text parse makes of it: the reference every split parse must equal. */
const whole = (text: string) => jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA });

const site = (i: number, indent = '  ') =>
  `${indent}- name: s${i}\n` +
  `${indent}  hosts: [s${i}.example.com]\n` +
  `${indent}  routes:\n` +
  `${indent}    - { path: /, upstream: "http://127.0.0.1:${8000 + i}" }\n`;

describe('splitSiteBlocks', () => {
  it('splits the entries of a plain layout and leaves `sites:` empty in the skeleton', () => {
    const text = `listeners: []\nsites:\n${site(1)}# between\n${site(2)}\nhealth: {}\n`;
    const blocks = splitSiteBlocks(text);
    assert.ok(blocks);
    assert.equal(blocks.entries.length, 2);
    assert.equal(blocks.entries[0], `${site(1)}# between\n`);
    assert.equal(blocks.entries[1], `${site(2)}\n`);
    assert.equal(blocks.skeleton, 'listeners: []\nsites:\nhealth: {}\n');
  });

  it('splits a compact sequence (entries at column 0)', () => {
    const blocks = splitSiteBlocks(`sites:\n${site(1, '')}${site(2, '')}log: {}\n`);
    assert.equal(blocks?.entries.length, 2);
  });

  it('declines layouts it does not split', () => {
    for (const text of [
      'sites: []\n',
      'sites: &s\n  - name: a\n',
      'sites:\n  name: a\n',
      'sites:\n  - name: a\n -x: 1\n',
      'sites:\n\t- name: a\n',
      'sites:\r\n  - name: a\r\n',
      'listeners: []\n',
      'sites:\nhealth: {}\n',
    ]) {
      assert.equal(splitSiteBlocks(text), undefined, text);
    }
  });
});

describe('parseConfigYaml by site entries', () => {
  it('gives exactly what the whole-text parse gives, on ordinary and awkward layouts', () => {
    const texts = [
      `sites:\n${site(1)}${site(2)}${site(3)}`,
      `listeners:\n  - address: 127.0.0.1:0\nsites:\n${site(1)}\n# trailing comment\nlog:\n  level: info\n`,
      `---\nsites:   # the sites\n${site(1, '')}${site(2, '')}`,
      // Block scalars, multi-line flow and nested sequences inside an entry.
      'sites:\n  - name: a\n    note: |\n      - not an entry\n      sites:\n    hosts: [a,\n      b]\n' +
        '    routes:\n      - path: /\n        upstream: "http://x"\n  - name: b\n',
      // Quoted text that looks like structure.
      "sites:\n  - name: \"- x\"\n    hosts: ['sites:']\n  - name: '#'\n",
      // Anchors inside one entry (allowed), and across entries (left to the whole parse).
      'sites:\n  - name: &n a\n    alias: *n\n  - name: b\n',
      'sites:\n  - name: &n a\n  - name: *n\n',
      'x: &u http://a\nsites:\n  - upstream: *u\n',
      // An unterminated quote that swallows the next entry in the whole parse.
      'sites:\n  - name: "a\n  - name: b"\n',
      'sites:\n  -\n  - name: b\n',
      // A quoted value above that swallows the `sites:` line itself.
      'note: "x\nsites:\n  - name: a\n"\n',
    ];
    for (const text of texts) {
      let expected: unknown;
      try {
        expected = whole(text);
      } catch {
        continue; // invalid YAML: the error tests below cover it
      }
      assert.deepEqual(parse(text), expected, text);
    }
  });

  it('reuses the parsed value of an unchanged entry and re-parses a changed one', () => {
    const a = parse(`sites:\n${site(1)}${site(2)}`) as { sites: object[] };
    const b = parse(`sites:\n${site(1)}${site(2).replace('8002', '9002')}`) as { sites: object[] };
    assert.equal(b.sites[0], a.sites[0], 'unchanged entry: same (frozen) value');
    assert.notEqual(b.sites[1], a.sites[1]);
    assert.ok(Object.isFrozen(b.sites[0]));
    assert.equal(
      (b.sites[1] as { routes: { upstream: string }[] }).routes[0]?.upstream,
      'http://127.0.0.1:9002',
    );
  });

  it('still reports errors from the careful parser, with lines', () => {
    const isParseError = (message: RegExp) => (err: unknown) =>
      err instanceof ProxyError && err.code === 'ERR_CONFIG_PARSE' && message.test(err.message);
    assert.throws(
      () => parse('sites:\n  - name: a\n    name: b\n'),
      isParseError(/unique.*line 3/),
    );
    assert.throws(() => parse('sites:\n  - name: [a\n  - name: b\n'), isParseError(/line \d/));
    assert.throws(
      () => parse('sites:\n  - name: a\nsites:\n  - name: b\n'),
      isParseError(/unique.*line 3/),
    );
    const bomb = ['    a: &a [x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      bomb.push(`    ${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    assert.throws(() => parse(`sites:\n  - name: a\n${bomb.join('\n')}\n`), isParseError(/alias/i));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileAffinity, pinnedIndex } from '../../../src/routing/affinity.ts';
import type { Affinity } from '../../../src/routing/affinity.ts';

const urls = ['http://10.0.1.5:9001', 'http://10.0.1.6:9001', 'http://10.0.1.7:9001'];
const compile = (secret: string, site = 'api', cookie = 'rp') =>
  compileAffinity(site, { cookie, secure: false }, urls, secret) as Affinity;
const valueOf = (a: Affinity, index: number) =>
  /^[^=]+=([^;]+)/.exec(a.setCookie[index] as string)?.[1] as string;

describe('affinity values', () => {
  it('are the same for the same config and secret (every worker, every replica)', () => {
    assert.deepEqual(compile('s3cret').setCookie, compile('s3cret').setCookie);
  });

  it('differ with the secret, the site and the cookie name, and per upstream', () => {
    const base = compile('s3cret');
    assert.equal(new Set(urls.map((_, i) => valueOf(base, i))).size, 3);
    for (const other of [
      compile('other'),
      compile('s3cret', 'web'),
      compile('s3cret', 'api', 'x'),
    ]) {
      assert.notEqual(valueOf(other, 0), valueOf(base, 0));
    }
  });

  it('hold 128 bits in base64url and nothing of the address', () => {
    for (let i = 0; i < urls.length; i++) {
      const value = valueOf(compile(''), i);
      assert.match(value, /^[A-Za-z0-9_-]{22}$/);
      assert.ok(!Buffer.from(value, 'base64url').toString('latin1').includes('10.0.1'));
    }
  });

  it('are not compiled for a single upstream or without the key', () => {
    assert.equal(
      compileAffinity('api', { cookie: 'rp', secure: false }, urls.slice(0, 1)),
      undefined,
    );
    assert.equal(compileAffinity('api', undefined, urls), undefined);
  });

  it('make Set-Cookie lines with Max-Age when asked, and Secure for TLS or always', () => {
    const a = compileAffinity('api', { cookie: 'rp', max_age_s: 60, secure: false }, urls, 'k');
    assert.match(
      a?.setCookie[0] ?? '',
      /^rp=[^;]{22}; Path=\/; Max-Age=60; HttpOnly; SameSite=Lax$/,
    );
    assert.match(a?.setCookieSecure[0] ?? '', /; SameSite=Lax; Secure$/);
    const always = compileAffinity('api', { cookie: 'rp', secure: true }, urls, 'k');
    assert.match(always?.setCookie[0] ?? '', /; Secure$/);
  });
});

describe('pinnedIndex', () => {
  const a = compile('k');
  const v = (i: number) => valueOf(a, i);
  const cases: [string, string[], number][] = [
    ['no cookie', ['host', 'x'], -1],
    ['the only cookie', ['Cookie', `rp=${v(1)}`], 1],
    ['among others', ['cookie', `a=1; rp=${v(2)}; b=2`], 2],
    ['spaces around', ['cookie', `a=1;   rp=${v(0)} ;b`], 0],
    ['in a later Cookie header (HTTP/2)', ['cookie', 'a=1', 'cookie', `rp=${v(2)}`], 2],
    ['a longer name ending in ours', ['cookie', `xrp=${v(1)}`], -1],
    ['a name starting with ours', ['cookie', `rpx=${v(1)}`], -1],
    ['an unknown value', ['cookie', 'rp=AAAAAAAAAAAAAAAAAAAAAA'], -1],
    ['an unknown value, then a known one', ['cookie', `rp=bad; rp=${v(1)}`], 1],
    ['an empty value', ['cookie', 'rp='], -1],
    ['our value under another name', ['cookie', `other=${v(1)}`], -1],
  ];
  for (const [title, headers, expected] of cases) {
    it(`${title}: ${expected}`, () => assert.equal(pinnedIndex(a, headers), expected));
  }
});

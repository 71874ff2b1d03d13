import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { guardRequest, requestHost } from '../../../src/proxy/request-guard.ts';
import { TrustBoundary } from '../../../src/proxy/trust-boundary.ts';

const req = (method: string, url: string, raw: string[]) =>
  ({
    method,
    url,
    rawHeaders: raw,
    httpVersionMajor: 1,
    httpVersionMinor: 1,
  }) as unknown as IncomingMessage;

describe('requestHost', () => {
  it('returns the one Host, or "" for an HTTP/1.0 request without one', () => {
    assert.equal(requestHost(['Accept', '*/*', 'HOST', 'x.example:8080']), 'x.example:8080');
    assert.equal(requestHost(['host', '[::1]:80']), '[::1]:80');
    assert.equal(requestHost(['Accept', '*/*']), '');
  });

  it('refuses two Host headers, and an empty or malformed one', () => {
    for (const raw of [
      ['Host', 'a', 'host', 'a'],
      ['Host', ''],
      ['Host', 'a,b'],
      ['Host', 'a/b'],
      ['Host', 'a\\b'],
      ['Host', 'user@a'],
      ['Host', 'a b'],
    ]) {
      assert.equal(requestHost(raw), undefined, raw.join(' '));
    }
  });
});

describe('guardRequest', () => {
  it('answers TRACE with 405 and a non-path target with 400', () => {
    assert.equal(guardRequest(req('TRACE', '/', ['Host', 'a'])), 'method_not_allowed');
    assert.equal(guardRequest(req('OPTIONS', '*', ['Host', 'a'])), 'bad_request');
    assert.equal(guardRequest(req('GET', 'http://a/x', ['Host', 'a'])), 'bad_request');
  });

  it('refuses a coding other than chunked (501), and any on HTTP/1.0 (400)', () => {
    const post = (raw: string[], minor = 1) =>
      guardRequest({
        method: 'POST',
        url: '/',
        rawHeaders: ['Host', 'a', ...raw],
        httpVersionMajor: 1,
        httpVersionMinor: minor,
      } as unknown as IncomingMessage);
    assert.equal(typeof post(['Transfer-Encoding', 'Chunked']), 'object');
    assert.equal(post(['Transfer-Encoding', 'gzip, chunked']), 'unsupported_coding');
    assert.equal(
      post(['Transfer-Encoding', 'identity', 'Transfer-Encoding', 'chunked']),
      'unsupported_coding',
    );
    assert.equal(post(['Transfer-Encoding', 'chunked'], 0), 'bad_request');
  });

  it('writes the normalised path back to req.url, query untouched', () => {
    const r = req('GET', '//%61pi//v1?next=//x/%2e%2e', ['Host', 'a']);
    assert.deepEqual(guardRequest(r), { host: 'a', path: '/api/v1' });
    assert.equal(r.url, '/api/v1?next=//x/%2e%2e');
  });
});

describe('TrustBoundary', () => {
  it('trusts no one by default', () => {
    assert.equal(new TrustBoundary([]).isTrusted('127.0.0.1'), false);
  });

  it('matches IPv4 and IPv6 networks, and IPv4 peers seen on a dual-stack listener', () => {
    const trust = new TrustBoundary(['10.0.0.0/8', 'fd00::/8', '192.0.2.7']);
    assert.equal(trust.isTrusted('10.1.2.3'), true);
    assert.equal(trust.isTrusted('::ffff:10.1.2.3'), true);
    assert.equal(trust.isTrusted('fd12::1'), true);
    assert.equal(trust.isTrusted('192.0.2.7'), true);
    assert.equal(trust.isTrusted('192.0.2.8'), false);
    assert.equal(trust.isTrusted('11.0.0.1'), false);
    assert.equal(trust.isTrusted(''), false);
  });
});

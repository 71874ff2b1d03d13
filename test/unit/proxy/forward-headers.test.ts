import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rawHost, upstreamHeaders } from '../../../src/proxy/forward-headers.ts';

/** The flat [name, value, ...] list as a map, names lower-cased, for easy assertions. */
const asMap = (flat: string[]) => {
  const map = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2)
    map.set((flat[i] as string).toLowerCase(), flat[i + 1] as string);
  return map;
};

describe('upstreamHeaders', () => {
  it('drops hop-by-hop headers and those Connection names, in any case', () => {
    const out = asMap(
      upstreamHeaders(
        [
          'Host',
          'api.example.com',
          'Connection',
          'keep-alive, X-Secret-Hop',
          'X-Secret-Hop',
          '1',
          'Keep-Alive',
          'timeout=5',
          'TE',
          'trailers',
          'Proxy-Authorization',
          'Basic x',
          'Transfer-Encoding',
          'chunked',
          'Expect',
          '100-continue',
          'Upgrade',
          'h2c',
          'Accept',
          'text/plain',
        ],
        '10.0.0.1',
        'http',
      ),
    );
    assert.deepEqual([...out.keys()].sort(), [
      'accept',
      'host',
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
    ]);
  });

  it('appends the client to X-Forwarded-For and overwrites Proto and Host', () => {
    const out = asMap(
      upstreamHeaders(
        [
          'host',
          'a.example',
          'x-forwarded-for',
          '203.0.113.9',
          'X-Forwarded-For',
          '198.51.100.7',
          'x-forwarded-proto',
          'https',
          'x-forwarded-host',
          'evil.example',
        ],
        '127.0.0.1',
        'http',
      ),
    );
    assert.equal(out.get('x-forwarded-for'), '203.0.113.9, 198.51.100.7, 127.0.0.1');
    assert.equal(out.get('x-forwarded-proto'), 'http');
    assert.equal(out.get('x-forwarded-host'), 'a.example');
  });

  it('keeps only the first Host and Content-Length, which undici would refuse twice', () => {
    const flat = upstreamHeaders(
      ['Host', 'a', 'host', 'b', 'Content-Length', '3', 'content-length', '3'],
      '::1',
      'http',
    );
    assert.deepEqual(flat.slice(0, 4), ['Host', 'a', 'Content-Length', '3']);
    assert.equal(flat.filter((n) => n.toLowerCase() === 'host').length, 1);
  });

  it('never mutates the raw list it reads', () => {
    const raw = ['Host', 'a', 'Connection', 'close'];
    upstreamHeaders(raw, '::1', 'http');
    assert.deepEqual(raw, ['Host', 'a', 'Connection', 'close']);
  });
});

describe('rawHost', () => {
  it('finds the first Host header whatever its case, or answers ""', () => {
    assert.equal(rawHost(['Accept', '*/*', 'HOST', 'x.example', 'host', 'y']), 'x.example');
    assert.equal(rawHost(['Accept', '*/*']), '');
  });
});

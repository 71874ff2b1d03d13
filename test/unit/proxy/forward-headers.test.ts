import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { upstreamHeaders } from '../../../src/proxy/forward-headers.ts';
import type { ClientHop } from '../../../src/proxy/forward-headers.ts';

const hop = (address: string, trusted = false): ClientHop => ({ address, proto: 'http', trusted });

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
        hop('10.0.0.1'),
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

  it('from a trusted peer: appends the peer to X-Forwarded-For, keeps its Proto and Host', () => {
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
        hop('127.0.0.1', true),
      ),
    );
    assert.equal(out.get('x-forwarded-for'), '203.0.113.9, 198.51.100.7, 127.0.0.1');
    assert.equal(out.get('x-forwarded-proto'), 'https');
    assert.equal(out.get('x-forwarded-host'), 'evil.example');
  });

  it('keeps only the first Host and Content-Length, which undici would refuse twice', () => {
    const flat = upstreamHeaders(
      ['Host', 'a', 'host', 'b', 'Content-Length', '3', 'content-length', '3'],
      hop('::1'),
    );
    assert.deepEqual(flat.slice(0, 4), ['Host', 'a', 'Content-Length', '3']);
    assert.equal(flat.filter((n) => n.toLowerCase() === 'host').length, 1);
  });

  it('never mutates the raw list it reads', () => {
    const raw = ['Host', 'a', 'Connection', 'close'];
    upstreamHeaders(raw, hop('::1'));
    assert.deepEqual(raw, ['Host', 'a', 'Connection', 'close']);
  });

  it('from an untrusted peer: replaces X-Forwarded-* and drops Forwarded and X-Real-IP', () => {
    const out = asMap(
      upstreamHeaders(
        [
          'Host',
          'a.example',
          'X-Forwarded-For',
          '6.6.6.6',
          'X-Forwarded-Proto',
          'https',
          'X-Forwarded-Host',
          'evil.example',
          'Forwarded',
          'for=6.6.6.6',
          'X-Real-IP',
          '6.6.6.6',
        ],
        hop('198.51.100.1'),
      ),
    );
    assert.equal(out.get('x-forwarded-for'), '198.51.100.1');
    assert.equal(out.get('x-forwarded-proto'), 'http');
    assert.equal(out.get('x-forwarded-host'), 'a.example');
    assert.equal(out.has('forwarded'), false);
    assert.equal(out.has('x-real-ip'), false);
  });

  it('never lets Connection name the framing or routing headers away', () => {
    const out = asMap(
      upstreamHeaders(
        [
          'Host',
          'a',
          'Connection',
          'content-length, host, X-Hop',
          'Content-Length',
          '5',
          'X-Hop',
          '1',
        ],
        hop('::1'),
      ),
    );
    assert.equal(out.get('host'), 'a');
    assert.equal(out.get('content-length'), '5');
    assert.equal(out.has('x-hop'), false);
  });

  it('drops underscore names that alias a managed header, and keeps the others', () => {
    const out = asMap(
      upstreamHeaders(
        ['Host', 'a', 'X_Forwarded_For', '6.6.6.6', 'content_length', '9', 'X_App_Id', '7'],
        hop('::1'),
      ),
    );
    assert.equal(out.has('x_forwarded_for'), false);
    assert.equal(out.has('content_length'), false);
    assert.equal(out.get('x_app_id'), '7');
  });
});

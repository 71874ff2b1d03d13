import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import {
  responseHeadersForClient,
  setForwardedHeaders,
  stripHopByHop,
} from '../../../src/proxy/headers.ts';

describe('stripHopByHop', () => {
  it('removes hop-by-hop headers and those the Connection header names', () => {
    const headers = {
      connection: 'keep-alive, X-Secret-Hop',
      'keep-alive': 'timeout=5',
      'x-secret-hop': '1',
      te: 'trailers',
      'proxy-authorization': 'Basic x',
      upgrade: 'h2c',
      accept: 'text/plain',
    };
    stripHopByHop(headers);
    assert.deepEqual(headers, { accept: 'text/plain' });
  });

  it('keeps Upgrade and Connection: upgrade for a WebSocket handshake', () => {
    const headers = {
      connection: 'Upgrade, x-other',
      upgrade: 'websocket',
      'x-other': '1',
      'keep-alive': '5',
    };
    stripHopByHop(headers, true);
    assert.deepEqual(headers, { connection: 'upgrade', upgrade: 'websocket' });
  });
});

describe('responseHeadersForClient', () => {
  it('leaves out hop-by-hop, Connection-named and Transfer-Encoding headers, in a copy', () => {
    const upstream = {
      server: 'up',
      connection: 'keep-alive, X-Secret-Hop',
      'keep-alive': 'timeout=5',
      'x-secret-hop': '1',
      'transfer-encoding': 'chunked',
      trailer: 'x-sum',
      'set-cookie': ['a=1', 'b=2'],
      'content-type': 'text/plain',
    };
    const before = structuredClone(upstream);
    assert.deepEqual(responseHeadersForClient(upstream), {
      server: 'up',
      'set-cookie': ['a=1', 'b=2'],
      'content-type': 'text/plain',
    });
    assert.deepEqual(upstream, before, 'the upstream object is not modified');
  });

  it('drops a plain Connection: keep-alive or close and keeps everything else', () => {
    for (const connection of ['keep-alive', 'close']) {
      assert.deepEqual(responseHeadersForClient({ connection, 'content-length': '2' }), {
        'content-length': '2',
      });
    }
  });
});

describe('setForwardedHeaders', () => {
  const req = (headers: Record<string, string>) =>
    ({ headers, socket: { remoteAddress: '10.1.2.3' } }) as unknown as IncomingMessage;

  it('appends the client to X-Forwarded-For and overwrites Proto and Host', () => {
    const r = req({
      host: 'a.example',
      'x-forwarded-for': '1.1.1.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil',
    });
    setForwardedHeaders(r, 'http');
    assert.equal(r.headers['x-forwarded-for'], '1.1.1.1, 10.1.2.3');
    assert.equal(r.headers['x-forwarded-proto'], 'http');
    assert.equal(r.headers['x-forwarded-host'], 'a.example');
  });

  it('starts the chain when there is none', () => {
    const r = req({});
    setForwardedHeaders(r, 'http');
    assert.equal(r.headers['x-forwarded-for'], '10.1.2.3');
    assert.equal(r.headers['x-forwarded-host'], undefined);
  });
});

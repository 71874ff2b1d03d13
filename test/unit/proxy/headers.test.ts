import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { responseHeadersForClient } from '../../../src/proxy/headers.ts';

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

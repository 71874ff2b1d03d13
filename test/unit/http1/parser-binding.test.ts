import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkParserBinding, createParser, METHODS, REQUEST } from '../../../src/http1/parser.ts';

/**
 * The engine stands on Node's llhttp binding (node:_http_common), an internal whose exports
 * Node may change in any major release: these fail loudly when its shape moves.
 */
describe('the llhttp binding', () => {
  it('has the constructor, constants, callback indices and methods the engine relies on', () => {
    assert.deepEqual(checkParserBinding(), []);
  });

  it('knows the methods by the indices kOnHeadersComplete reports', () => {
    assert.equal(METHODS[0], 'DELETE');
    assert.equal(METHODS[1], 'GET');
    assert.ok(METHODS.includes('PATCH'));
  });

  it('is strict whatever --insecure-http-parser says: a bare LF, CL with TE, obs-fold fail', () => {
    const bad = [
      'GET / HTTP/1.1\nHost: a\n\n',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    ];
    for (const text of bad) {
      const parser = createParser(REQUEST, {
        onHeaders: () => undefined,
        onHeadersComplete: () => 0,
        onBody: () => undefined,
        onMessageComplete: () => undefined,
      });
      const result = parser.execute(Buffer.from(text));
      parser.free();
      assert.equal(typeof result, 'object', JSON.stringify(text));
    }
  });
});

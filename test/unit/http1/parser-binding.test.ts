import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkParserBinding,
  createParser,
  METHODS,
  releaseParser,
  REQUEST,
  takeParser,
} from '../../../src/http1/parser.ts';
import type { Parser } from '../../../src/http1/parser.ts';

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
      parser.close();
      assert.equal(typeof result, 'object', JSON.stringify(text));
    }
  });

  it('keeps at most 1000 spare parsers and closes the rest (the GC never frees one)', () => {
    const callbacks = {
      onHeaders: () => undefined,
      onHeadersComplete: () => 0,
      onBody: () => undefined,
      onMessageComplete: () => undefined,
    };
    const taken: Parser[] = [];
    for (let i = 0; i < 1_100; i++) taken.push(takeParser(REQUEST, callbacks));
    let closed = 0;
    for (const parser of taken) {
      const close = parser.close.bind(parser);
      parser.close = () => {
        closed++;
        close();
      };
      releaseParser(parser);
    }
    assert.ok(closed >= 100, `closed ${closed}`);
    // A spare comes back reset, with the new owner's callbacks.
    let heads = 0;
    const again = takeParser(REQUEST, { ...callbacks, onHeadersComplete: () => (heads++, 0) });
    assert.equal(again.execute(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), 27);
    assert.equal(heads, 1);
    releaseParser(again);
  });
});

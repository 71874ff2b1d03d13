import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCompressible, prepareCompression } from '../../../src/proxy/response-compression.ts';
import type { ClientRequest } from '../../../src/proxy/client-side.ts';

const request = (acceptEncoding: string | undefined, method = 'GET') =>
  ({
    method,
    rawHeaders: acceptEncoding === undefined ? [] : ['Accept-Encoding', acceptEncoding],
  }) as unknown as ClientRequest;

type Headers = Record<string, string | string[] | undefined>;
const html = (more: Headers = {}): Headers => ({
  'content-type': 'text/html; charset=utf-8',
  'content-length': '5000',
  ...more,
});

describe('compressible media types', () => {
  for (const type of [
    'text/html',
    'Text/HTML; charset=UTF-8',
    'text/css',
    'text/plain',
    'application/json',
    'application/problem+json',
    'application/javascript',
    'application/atom+xml',
    'image/svg+xml',
    'application/wasm',
    'font/ttf',
  ]) {
    it(`compresses ${type}`, () => assert.equal(isCompressible(type), true));
  }
  for (const type of [
    'image/png',
    'image/jpeg',
    'font/woff2',
    'application/octet-stream',
    'application/zip',
    'application/grpc',
    'text/event-stream',
    'video/mp4',
    '',
  ]) {
    it(`leaves ${type || 'an empty type'} alone`, () => assert.equal(isCompressible(type), false));
  }
});

describe('the compression decision', () => {
  it('compresses, drops the length and Accept-Ranges, weakens a strong ETag, adds Vary', () => {
    const headers = html({ etag: '"v1"', 'accept-ranges': 'bytes', vary: 'Origin' });
    assert.equal(prepareCompression(request('gzip'), 200, headers), 'gzip');
    assert.equal(headers['content-encoding'], 'gzip');
    assert.equal(headers['content-length'], undefined);
    assert.equal(headers['accept-ranges'], undefined);
    assert.equal(headers.etag, 'W/"v1"');
    assert.equal(headers.vary, 'Origin, Accept-Encoding');
  });

  it('keeps a weak ETag as it is, and does not repeat Accept-Encoding in Vary', () => {
    const headers = html({ etag: 'W/"v1"', vary: ['Origin', 'accept-encoding'] });
    prepareCompression(request('br'), 200, headers);
    assert.equal(headers.etag, 'W/"v1"');
    assert.deepEqual(headers.vary, ['Origin', 'accept-encoding']);
  });

  it('adds Vary for a client that gets the body as it is', () => {
    const headers = html();
    assert.equal(prepareCompression(request(undefined), 200, headers), undefined);
    assert.equal(headers.vary, 'Accept-Encoding');
    assert.equal(headers['content-length'], '5000');
    assert.equal(headers['content-encoding'], undefined);
  });

  it('HEAD: the headers GET would get, no body to compress', () => {
    const headers = html();
    assert.equal(prepareCompression(request('gzip', 'HEAD'), 200, headers), undefined);
    assert.equal(headers['content-encoding'], 'gzip');
    assert.equal(headers['content-length'], undefined);
  });

  const untouched: [string, number, Headers][] = [
    ['already encoded', 200, html({ 'content-encoding': 'gzip' })],
    ['a partial response', 206, html({ 'content-range': 'bytes 0-99/5000' })],
    ['a Content-Range on a 200', 200, html({ 'content-range': 'bytes 0-99/5000' })],
    ['no-transform', 200, html({ 'cache-control': 'public, No-Transform' })],
    ['a small body', 200, html({ 'content-length': '1023' })],
    ['204', 204, html()],
    ['304', 304, html()],
    ['no Content-Type', 200, { 'content-length': '5000' }],
    ['an image', 200, { 'content-type': 'image/png', 'content-length': '5000' }],
  ];
  for (const [title, status, headers] of untouched) {
    it(`leaves ${title} untouched, without Vary`, () => {
      const before = { ...headers };
      assert.equal(prepareCompression(request('gzip, br'), status, headers), undefined);
      assert.deepEqual(headers, before);
    });
  }

  it('compresses a body of unknown length', () => {
    const headers: Headers = { 'content-type': 'application/json' };
    assert.equal(prepareCompression(request('gzip'), 200, headers), 'gzip');
  });
});

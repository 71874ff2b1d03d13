import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizePath } from '../../../src/routing/request-path.ts';

describe('normalizePath', () => {
  it('leaves an ordinary path as it is (the same string)', () => {
    for (const path of [
      '/',
      '/v1/users',
      '/a.b/c-d_e~f',
      '/.well-known/x',
      '/a/..b/c.',
      '/%E2%82%AC',
    ]) {
      assert.equal(normalizePath(path), path);
    }
  });

  it('decodes escapes of unreserved characters and keeps every other escape', () => {
    assert.equal(normalizePath('/%61dmin/%7Euser'), '/admin/~user');
    assert.equal(normalizePath('/a%20b/%3a'), '/a%20b/%3a');
  });

  it('merges runs of slashes', () => {
    assert.equal(normalizePath('//admin///x/'), '/admin/x/');
  });

  it('refuses encoded slash, backslash and control bytes, raw backslash, bad escapes', () => {
    for (const path of [
      '/admin%2fx',
      '/admin%2Fx',
      '/a%5cb',
      '/a\\b',
      '/public/..%00/admin',
      '/a%0d%0ab',
      '/a%7f',
      '/a%zz',
      '/a%4',
    ]) {
      assert.equal(normalizePath(path), undefined, path);
    }
  });

  it('refuses dot segments, raw or encoded, wherever they stand', () => {
    for (const path of ['/..', '/a/../b', '/a/./b', '/a/.', '/%2e%2e/a', '/a/%2E/b', '/a/.%2e/b']) {
      assert.equal(normalizePath(path), undefined, path);
    }
  });
});

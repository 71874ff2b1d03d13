import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRouteTable, matchRoute, upstreamPath } from '../../../src/routing/route-table.ts';
import type { Route } from '../../../src/routing/route-table.ts';

const routeTo = (upstream: string) => {
  const table = buildRouteTable([
    { name: 's', hosts: ['*'], routes: [{ path: '/', upstream, timeout_ms: 1000 }] },
  ]);
  return matchRoute(table, 'h', '/') as Route;
};

describe('upstreamPath', () => {
  it('sends the request path as is to a target without a path', () => {
    assert.equal(upstreamPath(routeTo('http://u:1'), '/x?q=1'), '/x?q=1');
    assert.equal(upstreamPath(routeTo('http://u:1/'), '/'), '/');
  });

  it('prepends the target path, with one slash between, as http-proxy-middleware does', () => {
    assert.equal(upstreamPath(routeTo('http://u:1/base'), '/v1/users'), '/base/v1/users');
    assert.equal(upstreamPath(routeTo('http://u:1/base/'), '/v1/users'), '/base/v1/users');
    assert.equal(upstreamPath(routeTo('http://u:1/base'), '/?q=1'), '/base/?q=1');
    assert.equal(upstreamPath(routeTo('http://u:1/base'), '/'), '/base');
    assert.equal(upstreamPath(routeTo('http://u:1/base/'), '/'), '/base/');
  });

  it('keys the pool by origin', () => {
    assert.equal(routeTo('http://u:1/base').origin, 'http://u:1');
  });
});

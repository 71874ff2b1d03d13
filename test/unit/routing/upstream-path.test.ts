import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRouteTable, matchRoute } from '../../../src/routing/route-table.ts';
import { upstreamPath } from '../../../src/routing/route.ts';
import type { Route } from '../../../src/routing/route.ts';
import { routeConfig } from '../../route-config.ts';

const routeTo = (upstream: string, keys: Record<string, unknown> = {}) => {
  const path = (keys.path as string | undefined) ?? '/';
  const table = buildRouteTable([
    { name: 's', hosts: ['*'], routes: [routeConfig({ path, upstream, ...keys })] },
  ]);
  return matchRoute(table, 'h', path) as Route;
};
const pathFor = (route: Route, url: string) =>
  upstreamPath(route, route.upstreams[0] as Route['upstreams'][number], url);

describe('upstreamPath', () => {
  it('sends the request path as is to a target without a path', () => {
    assert.equal(pathFor(routeTo('http://u:1'), '/x?q=1'), '/x?q=1');
    assert.equal(pathFor(routeTo('http://u:1/'), '/'), '/');
  });

  it('prepends the target path, with one slash between, as http-proxy-middleware does', () => {
    assert.equal(pathFor(routeTo('http://u:1/base'), '/v1/users'), '/base/v1/users');
    assert.equal(pathFor(routeTo('http://u:1/base/'), '/v1/users'), '/base/v1/users');
    assert.equal(pathFor(routeTo('http://u:1/base'), '/?q=1'), '/base/?q=1');
    assert.equal(pathFor(routeTo('http://u:1/base'), '/'), '/base');
    assert.equal(pathFor(routeTo('http://u:1/base/'), '/'), '/base/');
  });

  it('strip_prefix takes the route path off, with and without a query string', () => {
    const strip = routeTo('http://u:1', { path: '/v1/', strip_prefix: true });
    assert.equal(pathFor(strip, '/v1/users'), '/users');
    assert.equal(pathFor(strip, '/v1/users?q=1&r=2'), '/users?q=1&r=2');
    assert.equal(pathFor(strip, '/v1/'), '/');
    assert.equal(pathFor(strip, '/v1/?q=1'), '/?q=1');
    const bare = routeTo('http://u:1', { path: '/v1', strip_prefix: true });
    assert.equal(pathFor(bare, '/v1/users'), '/users');
    assert.equal(pathFor(bare, '/v1?q=1'), '/?q=1');
    assert.equal(pathFor(bare, '/v1'), '/');
  });

  it('strip_prefix, then the target path in front', () => {
    const strip = routeTo('http://u:1/api', { path: '/v1/', strip_prefix: true });
    assert.equal(pathFor(strip, '/v1/users?q=1'), '/api/users?q=1');
    assert.equal(pathFor(strip, '/v1/'), '/api');
  });

  it('without strip_prefix the route path stays', () => {
    assert.equal(pathFor(routeTo('http://u:1', { path: '/v1/' }), '/v1/users'), '/v1/users');
  });

  it('keys the pool by origin', () => {
    assert.equal(routeTo('http://u:1/base').upstreams[0]?.origin, 'http://u:1');
  });
});

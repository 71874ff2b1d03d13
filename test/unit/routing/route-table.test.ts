import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRouteTable, matchRoute, normalizeHost } from '../../../src/routing/route-table.ts';
import type { RouteTableSite } from '../../../src/routing/route-table.ts';
import { routeConfig } from '../../route-config.ts';

const r = (path: string, upstream = 'http://127.0.0.1:1') =>
  routeConfig({ path, upstream, timeout_ms: 1000 });
const SITES: RouteTableSite[] = [
  {
    name: 'api',
    hosts: ['api.example.com'],
    routes: [r('/'), r('/v1/'), r('/v1/users/'), r('/v2')],
  },
  { name: 'wild', hosts: ['*.example.com'], routes: [r('/')] },
  { name: 'deep', hosts: ['*.eu.example.com'], routes: [r('/')] },
  { name: 'exact-apex', hosts: ['example.com'], routes: [r('/only/')] },
  { name: 'fallback', hosts: ['*'], routes: [r('/')] },
];
const table = buildRouteTable(SITES);
const match = (host: string, path: string) => {
  const route = matchRoute(table, host, path);
  return route === undefined ? undefined : `${route.site} ${route.path}`;
};

describe('route table', () => {
  it('matches exact hosts before wildcards', () => {
    assert.equal(match('api.example.com', '/'), 'api /');
  });

  it('picks the longest path prefix', () => {
    assert.equal(match('api.example.com', '/v1/users/42'), 'api /v1/users/');
    assert.equal(match('api.example.com', '/v1/orders'), 'api /v1/');
    assert.equal(match('api.example.com', '/v1'), 'api /');
    assert.equal(
      match('api.example.com', '/v2beta'),
      'api /v2',
      'prefixes are plain string prefixes',
    );
  });

  it('matches *.domain at any depth, most specific first, but not the apex', () => {
    assert.equal(match('www.example.com', '/'), 'wild /');
    assert.equal(match('a.b.c.example.com', '/'), 'wild /');
    assert.equal(match('x.eu.example.com', '/'), 'deep /');
    assert.equal(match('example.com', '/only/x'), 'exact-apex /only/');
  });

  it('falls back to the * site, and then to no route', () => {
    assert.equal(match('other.org', '/anything'), 'fallback /');
    assert.equal(match('', '/'), 'fallback /');
    assert.equal(
      match('example.com', '/elsewhere'),
      undefined,
      'a matched site without a matching route is a 404',
    );
    const noCatchAll = buildRouteTable(SITES.slice(0, 1));
    assert.equal(matchRoute(noCatchAll, 'other.org', '/'), undefined);
  });

  it('ignores case, the port and a trailing dot in the Host header', () => {
    assert.equal(match('API.Example.COM:8443', '/v1/x'), 'api /v1/');
    assert.equal(match('api.example.com.', '/v1/x'), 'api /v1/');
    assert.equal(normalizeHost('[::1]:8080'), '[::1]');
    assert.equal(normalizeHost('Example.com.:80'), 'example.com');
  });

  it('keeps the parsed upstream URL on the route', () => {
    const route = matchRoute(
      buildRouteTable([
        { name: 's', hosts: ['*'], routes: [r('/', 'https://up.internal:8443/base')] },
      ]),
      'x',
      '/',
    );
    assert.equal(route?.upstreams[0]?.url, 'https://up.internal:8443/base');
    assert.equal(route?.upstreams[0]?.origin, 'https://up.internal:8443');
    assert.equal(route?.upstreams[0]?.basePath, '/base');
    assert.ok(Object.isFrozen(route));
  });

  it('matches among 10,000 sites by lookup, not by scanning them', () => {
    const many: RouteTableSite[] = Array.from({ length: 10_000 }, (_, i) => ({
      name: `s${i}`,
      hosts: [`host${i}.example.net`, `*.w${i}.example.net`],
      routes: [r('/'), r(`/p${i}/`)],
    }));
    const big = buildRouteTable(many);
    assert.equal(big.exact.size, 10_000);
    assert.equal(big.wildcard.size, 10_000);
    assert.equal(matchRoute(big, 'host9999.example.net', '/p9999/x')?.site, 's9999');
    assert.equal(matchRoute(big, 'a.w5000.example.net', '/')?.site, 's5000');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRouteTable, matchRoute } from '../../../src/routing/route-table.ts';
import type { MatchInput } from '../../../src/routing/route-table.ts';
import { routedUrl } from '../../../src/routing/route.ts';
import type { Route } from '../../../src/routing/route.ts';
import { routeConfig } from '../../route-config.ts';

const up = 'http://127.0.0.1:1';
const route = (keys: Record<string, unknown>) => routeConfig({ upstream: up, ...keys });

/** The documented order (docs/config.md "Matching order"), one route per row. */
const table = buildRouteTable([
  {
    name: 'api',
    hosts: ['api.example.com'],
    routes: [
      route({ path: '/' }),
      route({ path: '/users/' }),
      route({ path: '/users/', headers: { 'X-Canary': '1' } }),
      route({ path: '/users/', headers: { 'X-Canary': '1' }, methods: ['GET'] }),
      route({ path: '/users/me', path_match: 'exact' }),
      route({ path: '^/users/([0-9]+)$', path_match: 'regex' }),
      route({ path: '^/users/[0-9a-z]+$', path_match: 'regex' }),
      route({ path: '^/users/([0-9]+)$', path_match: 'regex', query: { v: '2' } }),
      route({ path: '/search', path_match: 'exact', query: { q: 'a b' } }),
      route({ path: '/search', path_match: 'exact', methods: ['POST'] }),
      route({ path: '/files/', headers: { 'X-Tenant': 'a, b' } }),
    ],
  },
]);

const input = (url: string, method = 'GET', headers: string[] = []): MatchInput => ({
  method,
  rawHeaders: headers,
  url,
});
const match = (url: string, method = 'GET', headers: string[] = []) => {
  const path = url.split('?')[0] as string;
  return matchRoute(table, 'api.example.com', path, input(url, method, headers))?.path;
};

describe('matching order', () => {
  const rows: [string, string, string, string[], string | undefined][] = [
    // url, method, headers -> the route's key
    ['exact before regex and prefix', '/users/me', 'GET', [], '= /users/me'],
    ['regex before prefix', '/users/42', 'GET', [], '~ ^/users/([0-9]+)$'],
    ['regexes in file order', '/users/abc', 'GET', [], '~ ^/users/[0-9a-z]+$'],
    [
      'a regex with more conditions first, whatever its place in the file',
      '/users/42?v=2',
      'GET',
      [],
      '~ ^/users/([0-9]+)$ [?v=2]',
    ],
    ['no regex matches: the longest prefix', '/users/a/b', 'GET', [], '/users/'],
    [
      'same prefix: the route with more conditions first',
      '/users/a/b',
      'GET',
      ['X-Canary', '1'],
      '/users/ [GET] [x-canary: 1]',
    ],
    [
      'a condition that fails falls to the next route of the same path',
      '/users/a/b',
      'PUT',
      ['x-canary', '1'],
      '/users/ [x-canary: 1]',
    ],
    [
      'a header value is exact',
      '/users/a/b',
      'GET',
      ['X-Canary', '1 '],
      '/users/ [GET] [x-canary: 1]',
    ],
    ['a header value is case-sensitive', '/users/a/b', 'GET', ['X-Canary', 'yes'], '/users/'],
    ['query values are decoded', '/search?q=a+b', 'GET', [], '= /search [?q=a b]'],
    ['percent-escapes too', '/search?q=a%20b&x=1', 'GET', [], '= /search [?q=a b]'],
    ['the first of a repeated parameter', '/search?q=c&q=a+b', 'GET', [], '/'],
    ['methods', '/search', 'POST', [], '= /search [POST]'],
    ['no exact route holds: the prefix', '/search', 'GET', [], '/'],
    [
      'repeated headers join with ", "',
      '/files/x',
      'GET',
      ['X-Tenant', 'a', 'x-tenant', 'b'],
      '/files/ [x-tenant: a, b]',
    ],
    ['one line of the pair is not the value', '/files/x', 'GET', ['X-Tenant', 'a'], '/'],
  ];
  for (const [name, url, method, headers, expected] of rows) {
    it(name, () => assert.equal(match(url, method, headers), expected));
  }

  it('a regex matches the whole path: no prefix or suffix match', () => {
    assert.equal(match('/users/42/x'), '/users/');
    assert.equal(match('/x/users/42'), '/');
  });

  it('a site with no route for the path and conditions matches nothing', () => {
    const only = buildRouteTable([
      { name: 's', hosts: ['*'], routes: [route({ path: '/a', methods: ['GET'] })] },
    ]);
    assert.equal(matchRoute(only, 'h', '/a', input('/a', 'DELETE')), undefined);
    assert.equal(matchRoute(only, 'h', '/a', input('/a', 'GET'))?.path, '/a [GET]');
  });
});

describe('rewrite', () => {
  const one = (keys: Record<string, unknown>) =>
    buildRouteTable([{ name: 's', hosts: ['*'], routes: [route(keys)] }]);
  const rewritten = (keys: Record<string, unknown>, url: string) => {
    const found = matchRoute(one(keys), 'h', url.split('?')[0] as string) as Route;
    return routedUrl(found, url);
  };

  it('a regex route substitutes its captures and keeps the query string', () => {
    const keys = { path: '^/users/([0-9]+)/(posts|likes)$', path_match: 'regex' };
    const rewrite = { path: '/v2/$2/by-user/$1' };
    assert.equal(
      rewritten({ ...keys, rewrite }, '/users/7/posts?page=2&x=%2F'),
      '/v2/posts/by-user/7?page=2&x=%2F',
    );
    assert.equal(
      rewritten({ ...keys, rewrite: { path: '/all$0' } }, '/users/7/likes'),
      '/all/users/7/likes',
    );
    assert.equal(
      rewritten({ ...keys, rewrite: { path: '/cost/$$1' } }, '/users/7/likes'),
      '/cost/$1',
    );
  });

  it('a prefix route replaces the prefix it matched', () => {
    const keys = { path: '/old/', rewrite: { path: '/new/' } };
    assert.equal(rewritten(keys, '/old/a/b?c=d'), '/new/a/b?c=d');
    assert.equal(rewritten(keys, '/old/'), '/new/');
    assert.equal(rewritten({ path: '/old', rewrite: { path: '/' } }, '/old/a'), '/a');
  });

  it('an exact route replaces the whole path', () => {
    assert.equal(
      rewritten({ path: '/a', path_match: 'exact', rewrite: { path: '/b/c' } }, '/a?x'),
      '/b/c?x',
    );
  });

  it('a rewritten path is normalised, and refused when the normal form refuses it', () => {
    const keys = { path: '^/f/(.*)$', path_match: 'regex' };
    assert.equal(rewritten({ ...keys, rewrite: { path: '/x//$1' } }, '/f/a'), '/x/a');
    assert.equal(rewritten({ ...keys, rewrite: { path: '/x/.$1/' } }, '/f/'), undefined);
    assert.equal(rewritten({ path: '/a', rewrite: { path: '/b/' } }, '/a.'), undefined);
  });
});

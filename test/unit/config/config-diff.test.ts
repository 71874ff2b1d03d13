import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { parseConfigYaml } from '../../../src/config/parse.ts';
import { validateConfig } from '../../../src/config/validate.ts';
import { diffConfigs, isEmptyDiff } from '../../../src/config/config-diff.ts';
import { formatDiff, summarize } from '../../../src/config/config-diff-text.ts';

const config = (yaml: string) =>
  checkConfigBytes(Buffer.from(yaml), 't', { allowWildcardBind: false });

/** A config with the given sites block (YAML, indented under `sites:`). */
const withSites = (sites: string, head = 'listeners:\n  - address: 127.0.0.1:8080\n') =>
  config(`${head}sites:\n${sites}`);

/** The same, without reading the files it names (the page files here do not exist). */
const withSitesUnread = (sites: string) =>
  validateConfig(
    parseConfigYaml(Buffer.from(`listeners:\n  - address: 127.0.0.1:8080\nsites:\n${sites}`), 't'),
    { allowWildcardBind: false },
  );

const API = `  - name: api
    hosts: [api.example.com]
    routes:
      - path: /v1/
        upstream: http://a:1
      - path: /old/
        upstream: http://a:1
`;

describe('diffConfigs', () => {
  it('finds no change between a config and itself', () => {
    const diff = diffConfigs(withSites(API), withSites(API));
    assert.ok(isEmptyDiff(diff));
    assert.deepEqual(formatDiff(diff), []);
    assert.equal(summarize(diff), 'no change');
  });

  it('treats defaults written out, other formatting and other orders as no change', () => {
    const explicit = `  - name: api
    hosts: ["api.example.com"]
    https_redirect: false
    routes:
      - {path: /old/, upstream: "http://a:1", strip_prefix: false, balance: round_robin}
      - path: /v1/
        upstreams: [{url: "http://a:1", weight: 1}]
        timeouts: {connect_ms: 5000, response_ms: 30000, idle_ms: 60000}
        retries: {attempts: 0, budget_percent: 20}
        passive_health: {consecutive_failures: 5, ejection_ms: 30000}
`;
    const head = 'listeners: [{address: "127.0.0.1:8080"}]\nlog: {level: info}\n';
    assert.ok(isEmptyDiff(diffConfigs(withSites(API), withSites(explicit, head))));
    // The v1 spelling of the response timeout is the same setting.
    const v1 = API.replace(
      'upstream: http://a:1\n',
      'upstream: http://a:1\n        timeout_ms: 30000\n',
    );
    assert.ok(isEmptyDiff(diffConfigs(withSites(API), withSites(v1))));
  });

  it('names routes by their key: a canary pair on one path, a regex route, a redirect', () => {
    const before = `  - name: api
    hosts: [api.example.com]
    routes:
      - { path: /v1/, upstream: "http://a:1" }
      - { path: /v1/, headers: { X-Canary: "1" }, upstream: "http://b:1" }
      - { path: '^/u/([0-9]+)$', path_match: regex, rewrite: { path: /u/$1 }, upstream: "http://a:1" }
`;
    const after = `  - name: api
    hosts: [api.example.com]
    routes:
      - { path: /v1/, upstream: "http://a:1" }
      - { path: /v1/, headers: { X-Canary: "1" }, upstream: "http://c:1" }
      - { path: '^/u/([0-9]+)$', path_match: regex, rewrite: { path: /users/$1 }, upstream: "http://a:1" }
      - { path: /old/, redirect: { status: 301, path: /v1/ } }
`;
    assert.deepEqual(formatDiff(diffConfigs(withSites(before), withSites(after))), [
      '~ site api',
      '  ~ route /v1/ [x-canary: 1]: upstream http://b:1 -> http://c:1',
      '  ~ route ~ ^/u/([0-9]+)$: rewrite.path /u/$1 -> /users/$1',
      '  + route /old/ -> redirect 301 (path /v1/)',
    ]);
  });

  it('reports added, removed and changed routes, with the changed keys from and to', () => {
    const next = `  - name: api
    hosts: [api.example.com]
    routes:
      - path: /v1/
        upstream: http://b:2
        timeouts: {response_ms: 5000}
      - path: /v2/
        upstream: http://c:3
`;
    const diff = diffConfigs(withSites(API), withSites(next));
    assert.deepEqual(diff.tls, []);
    assert.deepEqual(diff.restartRequired, []);
    assert.equal(diff.sites.length, 1);
    const site = diff.sites[0];
    assert.ok(site?.kind === 'changed');
    assert.deepEqual(site.changes, []);
    assert.deepEqual(
      site.routes.map((r) => [r.kind, r.path]),
      [
        ['changed', '/v1/'],
        ['added', '/v2/'],
        ['removed', '/old/'],
      ],
    );
    const v1 = site.routes[0];
    assert.ok(v1?.kind === 'changed');
    assert.deepEqual(v1.changes, [{ key: 'timeouts.response_ms', from: 30_000, to: 5_000 }]);
    assert.equal(v1.upstream?.single, true);
    assert.deepEqual(formatDiff(diff), [
      '~ site api',
      '  ~ route /v1/: upstream http://a:1 -> http://b:2; timeouts.response_ms 30000 -> 5000',
      '  + route /v2/ -> http://c:3',
      '  - route /old/',
    ]);
    assert.equal(
      summarize(diff),
      '1 route changed (api /v1/: upstream+timeouts), 1 route added (api /v2/), 1 route removed (api /old/)',
    );
  });

  it('spells out an upstreams list: added and removed URLs, weight changes, order', () => {
    const pool = (entries: string) =>
      withSites(`  - name: api
    hosts: [api.example.com]
    routes:
      - path: /
        upstreams: ${entries}
`);
    const before = pool('[{url: "http://p:1", weight: 2}, {url: "http://q:1"}]');
    const after = pool('[{url: "http://p:1", weight: 3}, {url: "http://r:1", weight: 4}]');
    const diff = diffConfigs(before, after);
    const route = diff.sites[0]?.kind === 'changed' ? diff.sites[0].routes[0] : undefined;
    assert.ok(route?.kind === 'changed');
    assert.deepEqual(route.changes, []);
    assert.deepEqual(route.upstream?.added, [{ url: 'http://r:1', weight: 4 }]);
    assert.deepEqual(route.upstream?.removed, [{ url: 'http://q:1', weight: 1 }]);
    assert.deepEqual(route.upstream?.reweighted, [{ url: 'http://p:1', from: 2, to: 3 }]);
    assert.equal(route.upstream?.single, false);
    assert.deepEqual(formatDiff(diff), [
      '~ site api',
      '  ~ route /: upstreams + http://r:1 (weight 4), - http://q:1, http://p:1 weight 2 -> 3',
    ]);
    // Only the order moves: still a change (round-robin walks the list in order).
    const swapped = diffConfigs(
      before,
      pool('[{url: "http://q:1"}, {url: "http://p:1", weight: 2}]'),
    );
    assert.deepEqual(formatDiff(swapped), [
      '~ site api',
      '  ~ route /: upstreams reordered: http://p:1 (weight 2), http://q:1 -> http://q:1, http://p:1 (weight 2)',
    ]);
    // From one upstream to a list: the list change, not "upstream A -> B".
    const grown = diffConfigs(
      withSites(API),
      withSites(
        API.replace(
          'upstream: http://a:1\n      - path: /old/',
          'upstreams: [{url: "http://a:1"}, {url: "http://b:1"}]\n      - path: /old/',
        ),
      ),
    );
    assert.deepEqual(formatDiff(grown), ['~ site api', '  ~ route /v1/: upstreams + http://b:1']);
  });

  it("reports error_pages changed on a site (the pages are files: their bytes are the reload's to read)", () => {
    const pages = API.replace(
      '    routes:',
      '    error_pages: {404: /p/404.html, 5xx: /p/down.html}\n    routes:',
    );
    const diff = diffConfigs(withSitesUnread(API), withSitesUnread(pages));
    assert.deepEqual(formatDiff(diff), [
      '~ site api: error_pages (unset) -> {404: /p/404.html, 5xx: /p/down.html}',
    ]);
    assert.equal(summarize(diff), '1 site changed (api: error_pages)');
  });

  it('reports a site added and a site removed, and site-level keys', () => {
    const next = `  - name: api
    hosts: [api2.example.com, api.example.com]
    https_redirect: true
    routes:
      - path: /v1/
        upstream: http://a:1
      - path: /old/
        upstream: http://a:1
  - name: web
    hosts: [www.example.com]
    routes:
      - path: /
        upstreams: [{url: "http://w:1"}, {url: "http://w:2", weight: 2}]
`;
    const old = withSites(
      `${API}  - name: legacy\n    hosts: [legacy.example.com]\n    routes:\n      - {path: /, upstream: "http://l:1"}\n`,
    );
    const diff = diffConfigs(old, withSites(next));
    assert.deepEqual(
      diff.sites.map((s) => [s.kind, s.name]),
      [
        ['changed', 'api'],
        ['added', 'web'],
        ['removed', 'legacy'],
      ],
    );
    assert.deepEqual(formatDiff(diff), [
      '~ site api: hosts [api.example.com] -> [api2.example.com, api.example.com]; https_redirect false -> true',
      '+ site web (hosts www.example.com)',
      '  + route / -> http://w:1, http://w:2 (weight 2)',
      '- site legacy (1 route)',
    ]);
    assert.equal(
      summarize(diff),
      '1 site changed (api: hosts+https_redirect), 1 site added (web), 1 site removed (legacy)',
    );
    // Hosts are a set: the same hosts in another order are no change.
    const reordered = API.replace('[api.example.com]', '[api.example.com, b.example.com]');
    const back = API.replace('[api.example.com]', '[b.example.com, api.example.com]');
    assert.ok(isEmptyDiff(diffConfigs(withSites(reordered), withSites(back))));
  });

  it('places a removed entry where it stood, between the kept ones', () => {
    const three = (names: string[]) =>
      withSites(
        names
          .map(
            (n) =>
              `  - name: ${n}\n    hosts: [${n}.example]\n    routes: [{path: /, upstream: "http://x:1"}]\n`,
          )
          .join(''),
      );
    const diff = diffConfigs(three(['a', 'b', 'c']), three(['a', 'c', 'd']));
    assert.deepEqual(
      diff.sites.map((s) => `${s.kind} ${s.name}`),
      ['removed b', 'added d'],
    );
  });

  it('reports nested keys, optional blocks and header rules leaf by leaf', () => {
    const next = API.replace(
      'upstream: http://a:1\n      - path: /old/',
      `upstream: http://a:1
        retries: {attempts: 2}
        health_check: {path: /healthz}
        request_headers: {set: {X-Env: prod}, remove: [X-Debug]}
      - path: /old/`,
    );
    const diff = diffConfigs(withSites(API), withSites(next));
    assert.deepEqual(formatDiff(diff), [
      '~ site api',
      '  ~ route /v1/: health_check (unset) -> {path: /healthz, interval_ms: 5000, timeout_ms: 1000, healthy_threshold: 2, unhealthy_threshold: 3}; retries.attempts 0 -> 2; request_headers (unset) -> {set: {X-Env: prod}, remove: [X-Debug]}',
    ]);
    const later = next.replace('X-Env: prod', 'X-Env: staging');
    assert.deepEqual(formatDiff(diffConfigs(withSites(next), withSites(later))), [
      '~ site api',
      '  ~ route /v1/: request_headers.set.X-Env prod -> staging',
    ]);
  });

  it('reports tls keys as dynamic and static keys as needing a restart', () => {
    const old = withSites(API);
    const next = withSites(
      API,
      'listeners:\n  - address: 127.0.0.1:8081\nclient: {header_timeout_ms: 5000}\ntls: {min_version: TLSv1.3}\n',
    );
    const diff = diffConfigs(old, next);
    assert.deepEqual(diff.sites, []);
    assert.deepEqual(diff.tls, [{ key: 'tls.min_version', from: 'TLSv1.2', to: 'TLSv1.3' }]);
    assert.deepEqual(diff.restartRequired, ['listeners', 'client.header_timeout_ms']);
    assert.deepEqual(formatDiff(diff), [
      '~ tls.min_version TLSv1.2 -> TLSv1.3',
      '! listeners changed: applies only after a restart (a reload keeps the old value)',
      '! client.header_timeout_ms changed: applies only after a restart (a reload keeps the old value)',
    ]);
    assert.equal(
      summarize(diff),
      'tls changed (min_version), restart needed (listeners, client.header_timeout_ms)',
    );
  });
});

describe('summarize', () => {
  const many = (n: number, upstream: string) =>
    withSites(
      `  - name: api\n    hosts: [api.example.com]\n    routes:\n${Array.from(
        { length: n },
        (_, i) => `      - {path: /r${i}/, upstream: "${upstream}"}\n`,
      ).join('')}`,
    );

  it('keeps every count, stays within the cap and says how many it left out', () => {
    const diff = diffConfigs(many(40, 'http://a:1'), many(40, 'http://b:1'));
    const line = summarize(diff);
    assert.ok(line.length <= 200, `${line.length}: ${line}`);
    assert.match(
      line,
      /^40 routes changed \(api \/r0\/: upstream, api \/r1\/: upstream, .*, and \d+ more\)$/,
    );
    const shown = (line.match(/: upstream/g) ?? []).length;
    assert.ok(shown >= 5, line);
    assert.ok(line.endsWith(`and ${40 - shown} more)`), line);
    // A smaller cap shows fewer items, never fewer counts.
    const short = summarize(diff, 60);
    assert.ok(short.length <= 60, short);
    assert.match(short, /^40 routes changed/);
  });

  it('gives each group its first item before any group gets a second', () => {
    const old = many(20, 'http://a:1');
    const next = withSites(
      `  - name: api\n    hosts: [api.example.com]\n    routes:\n${Array.from(
        { length: 20 },
        (_, i) => `      - {path: /r${i}/, upstream: "http://b:1"}\n`,
      ).join(
        '',
      )}  - name: web\n    hosts: [www.example]\n    routes: [{path: /, upstream: "http://w:1"}]\n`,
    );
    const line = summarize(diffConfigs(old, next));
    assert.ok(line.length <= 200, line);
    assert.match(line, /^20 routes changed \(.*, and \d+ more\), 1 site added \(web\)$/);
  });
});

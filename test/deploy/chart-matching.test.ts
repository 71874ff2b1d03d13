import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { checkConfigBytes } from '../../src/config/check.ts';
import { tmpDir } from '../helpers.ts';
import { findKind, render } from './manifests.ts';

/** Issue 21: the chart's `config` value takes the matching and rewriting keys of a route. */
describe('helm chart: matching, rewrites and redirects', () => {
  it('renders path_match, conditions, rewrite and redirect as given, and the proxy accepts them', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-match-');
    try {
      const up = 'http://users.default.svc.cluster.local:8080';
      const site = {
        name: 'api',
        hosts: ['api.example.com'],
        routes: [
          { path: '/healthz', path_match: 'exact', upstream: up },
          {
            path: '^/users/([0-9]+)/?$',
            path_match: 'regex',
            methods: ['GET', 'HEAD'],
            headers: { 'X-Canary': '1' },
            query: { v: '2' },
            rewrite: { path: '/u/$1' },
            upstream: up,
          },
          {
            path: '/old/',
            redirect: { status: 308, scheme: 'https', host: 'www.example.com', path: '/new/' },
          },
        ],
      };
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify({ config: { sites: [site] } }));
      const [configMap] = findKind(render(['-f', file]), 'ConfigMap');
      const text = String(configMap?.data['proxy.yaml']);
      assert.deepEqual((parse(text) as { sites: unknown[] }).sites, [site]);
      const checked = checkConfigBytes(Buffer.from(text), 'cm', { allowWildcardBind: true });
      assert.equal(checked.sites[0]?.routes[1]?.path_match, 'regex');

      const refused = [
        { path: '/a', path_match: 'fuzzy', upstream: up },
        { path: '/a', redirect: { status: 200 } },
        { path: '/a', upstream: up, redirect: { status: 301 } },
        { path: '/a', upstream: up, rewrite: { path: '/b?c' } },
      ];
      for (const route of refused) {
        const bad = join(dir, 'bad.json');
        writeFileSync(bad, JSON.stringify({ config: { sites: [{ ...site, routes: [route] }] } }));
        assert.throws(() => render(['-f', bad]), /routes/, JSON.stringify(route));
      }
    } finally {
      await cleanup();
    }
  });
});

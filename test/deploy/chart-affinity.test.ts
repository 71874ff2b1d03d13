import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { checkConfigBytes } from '../../src/config/check.ts';
import { tmpDir } from '../helpers.ts';
import { findKind, render } from './manifests.ts';

/** Issue 21: the chart's `config` value takes a route's `affinity`. */
describe('helm chart: affinity', () => {
  it('renders affinity as given, the proxy accepts it, and the schema refuses a bad cookie name', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-affinity-');
    try {
      const site = {
        name: 'app',
        hosts: ['app.example.com'],
        routes: [
          {
            path: '/',
            upstreams: [
              { url: 'http://10.0.1.5:8080' },
              { url: 'http://10.0.1.6:8080', weight: 2 },
            ],
            affinity: { cookie: 'rp_affinity', max_age_s: 172800, secure: true },
          },
        ],
      };
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify({ config: { sites: [site] } }));
      const [configMap] = findKind(render(['-f', file]), 'ConfigMap');
      const text = String(configMap?.data['proxy.yaml']);
      assert.deepEqual((parse(text) as { sites: unknown[] }).sites, [site]);
      const checked = checkConfigBytes(Buffer.from(text), 'cm', { allowWildcardBind: true });
      assert.deepEqual(checked.sites[0]?.routes[0]?.affinity, site.routes[0]?.affinity);

      const bad = join(dir, 'bad.json');
      const route = { ...site.routes[0], affinity: { cookie: 'rp affinity' } };
      writeFileSync(bad, JSON.stringify({ config: { sites: [{ ...site, routes: [route] }] } }));
      assert.throws(() => render(['-f', bad]), /affinity/);
    } finally {
      await cleanup();
    }
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { checkConfigBytes } from '../../src/config/check.ts';
import { tmpDir } from '../helpers.ts';
import { findKind, render } from './manifests.ts';

/** Issue 21: the chart's `config` value takes `compress` on a route, and only a boolean. */
describe('helm chart: compress', () => {
  it('renders compress: true as given, the proxy accepts it, and the schema refuses "yes"', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-compress-');
    try {
      const site = {
        name: 'web',
        hosts: ['www.example.com'],
        routes: [
          { path: '/', upstream: 'http://web.default.svc.cluster.local:8080', compress: true },
        ],
      };
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify({ config: { sites: [site] } }));
      const [configMap] = findKind(render(['-f', file]), 'ConfigMap');
      const text = String(configMap?.data['proxy.yaml']);
      assert.deepEqual((parse(text) as { sites: unknown[] }).sites, [site]);
      const checked = checkConfigBytes(Buffer.from(text), 'cm', { allowWildcardBind: true });
      assert.equal(checked.sites[0]?.routes[0]?.compress, true);

      const bad = join(dir, 'bad.json');
      const route = { ...site.routes[0], compress: 'yes' };
      writeFileSync(bad, JSON.stringify({ config: { sites: [{ ...site, routes: [route] }] } }));
      assert.throws(() => render(['-f', bad]), /compress/);
    } finally {
      await cleanup();
    }
  });
});

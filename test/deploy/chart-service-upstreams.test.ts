import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { checkConfigBytes } from '../../src/config/check.ts';
import { tmpDir } from '../helpers.ts';
import { findKind, render } from './manifests.ts';

/** Issue 22: the chart's `config` value takes `{service, port, weight}` upstream entries. */
describe('helm chart: service upstreams', () => {
  it('renders service entries as given, the proxy accepts them, the schema refuses bad ones', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-svc-');
    try {
      const upstreams = [
        { service: 'users', port: 'http', weight: 3 },
        { service: 'orders', port: 8080 },
        { url: 'http://10.0.0.9:8080' },
      ];
      const site = { name: 'api', hosts: ['api.example.com'], routes: [{ path: '/', upstreams }] };
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify({ config: { sites: [site] } }));
      const [configMap] = findKind(render(['-f', file]), 'ConfigMap');
      const text = String(configMap?.data['proxy.yaml']);
      assert.deepEqual((parse(text) as { sites: unknown[] }).sites, [site]);
      const checked = checkConfigBytes(Buffer.from(text), 'cm', {
        allowWildcardBind: true,
        endpointSource: true,
      });
      assert.equal(checked.sites[0]?.routes[0]?.upstreams?.length, 3);

      for (const entry of [
        { service: 'Users', port: 'http' },
        { service: 'users', port: 70000 },
        { service: 'users' },
      ]) {
        const bad = join(dir, 'bad.json');
        const routes = [{ path: '/', upstreams: [entry] }];
        writeFileSync(bad, JSON.stringify({ config: { sites: [{ ...site, routes }] } }));
        assert.throws(() => render(['-f', bad]), /upstreams/, JSON.stringify(entry));
      }
    } finally {
      await cleanup();
    }
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkConfig } from '../../src/config/check.ts';
import { tmpDir } from '../helpers.ts';
import { CHART, findKind, helm, podContainers, render } from './manifests.ts';
import type { K8sObject } from './manifests.ts';

const MOUNT = '/etc/reverse-proxy/error-pages';

/** Issue 21: `errorPages.configMap` ships a site's `error_pages` files with the chart. */
describe('helm chart: error pages', () => {
  it('mounts the ConfigMap read-only where the proxy, the sidecar and the seed read it, the sidecar watches it, and the rendered config is one the proxy accepts', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-pages-');
    try {
      const values = join(dir, 'values.json');
      const site = {
        name: 'api',
        hosts: ['api.example.com'],
        error_pages: { 404: `${MOUNT}/404.html`, '5xx': `${MOUNT}/down.json` },
        routes: [{ path: '/', upstream: 'http://api.default.svc.cluster.local:8080' }],
      };
      writeFileSync(
        values,
        JSON.stringify({ errorPages: { configMap: 'api-pages' }, config: { sites: [site] } }),
      );
      for (const kubeVersion of ['1.30.0', '1.28.5']) {
        const objects = render(['-f', values], kubeVersion);
        const [deployment] = findKind(objects, 'Deployment');
        const spec = deployment?.spec.template.spec;
        assert.deepEqual(
          spec.volumes.find((v: { name: string }) => v.name === 'error-pages').configMap,
          { name: 'api-pages', defaultMode: 0o444 },
        );
        const containers = podContainers(deployment as K8sObject);
        const readers =
          kubeVersion === '1.28.5' ? ['admin', 'proxy', 'seed-config'] : ['admin', 'proxy'];
        assert.deepEqual(
          containers
            .filter((c) =>
              (c.volumeMounts ?? []).some(
                (m: { name: string; mountPath: string; readOnly?: boolean }) =>
                  m.name === 'error-pages' && m.mountPath === MOUNT && m.readOnly === true,
              ),
            )
            .map((c) => c.name)
            .sort(),
          readers,
        );
        const admin = containers.find((c) => c.name === 'admin');
        assert.ok(admin.args.includes(`--tls-dir=${MOUNT}`), 'the sidecar watches it');
        // With the pages where the test has them, the rendered config passes the proxy's check.
        const [configMap] = findKind(objects, 'ConfigMap');
        const text = String(configMap?.data['proxy.yaml']);
        writeFileSync(join(dir, '404.html'), '<p>not here</p>\n');
        writeFileSync(join(dir, 'down.json'), '{"error":"down"}\n');
        const checked = checkConfig(
          Buffer.from(text.replaceAll(`${MOUNT}/`, `${dir}/`)),
          'configmap',
          { allowWildcardBind: true },
        );
        assert.deepEqual([...checked.pages.files.keys()].sort(), [
          `${dir}/404.html`,
          `${dir}/down.json`,
        ]);
      }
    } finally {
      await cleanup();
    }
    // Off by default: no volume, no mount, no watch.
    assert.ok(!JSON.stringify(findKind(render(), 'Deployment')).includes('error-pages'));
    const bad = (pages: unknown) =>
      `config.sites=${JSON.stringify([{ name: 'a', hosts: ['a'], error_pages: pages, routes: [{ path: '/', upstream: 'http://a:1' }] }])}`;
    for (const [flags, pattern] of [
      [['--set', 'errorPages.configMap=Not_A_Name'], /configMap/],
      [['--set', 'extraVolumes[0].name=error-pages'], /extraVolumes\.0\.name/],
      [['--set-json', bad({ 200: '/p/ok.html' })], /error_pages/],
      [['--set-json', bad({ 404: 'pages/404.html' })], /error_pages/],
      [['--set-json', bad({ 404: '/p/404.php' })], /error_pages/],
    ] as [string[], RegExp][]) {
      const result = helm(['template', 'rp', CHART, ...flags]);
      assert.notEqual(result.code, 0, `${flags.join(' ')} must fail`);
      assert.match(result.stderr, pattern, flags.join(' '));
    }
  });
});

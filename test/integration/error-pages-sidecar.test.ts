import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, startProxy, startUpstream, tmpDir } from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { createKubeletVolume } from '../kubelet-volume.ts';
import type { KubeletVolume } from '../kubelet-volume.ts';
import { startSidecarProcess } from '../sidecar-process.ts';
import type { SidecarProcess } from '../sidecar-process.ts';

/**
 * What the chart wires up (errorPages.configMap): the pages mounted as a kubelet volume,
 * watched by the sidecar (--tls-dir, as for the htpasswd Secret), which validates the config
 * with the new pages and reloads the proxy; a page it refuses is not delivered.
 */
describe('sidecar and an error pages ConfigMap', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: Upstream;
  let pages: KubeletVolume;
  let sidecar: SidecarProcess;
  let proxy: ProxyProcess;
  const notFound = async () => (await request(`${proxy.url}/nowhere`, { host: 'app.test' })).body;

  before(async () => {
    ({ dir, cleanup } = await tmpDir('rp-sidecar-pages-'));
    up = await startUpstream('up');
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o700 });
    const socket = join(run, 'admin.sock');
    const configOut = join(run, 'proxy.yaml');
    pages = await createKubeletVolume(join(dir, 'pages'), { '404.html': '<p>first</p>' });
    const config = `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ${socket}
health:
  address: 127.0.0.1:0
sites:
  - name: app
    hosts: [app.test]
    error_pages: { 404: ${join(pages.dir, '404.html')} }
    routes:
      - { path: /app/, upstream: "${up.url}" }
`;
    const configmap = await createKubeletVolume(join(dir, 'configmap'), { 'proxy.yaml': config });
    sidecar = await startSidecarProcess([
      `--socket=${socket}`,
      `--config-out=${configOut}`,
      `--watch-dir=${configmap.dir}`,
      `--tls-dir=${pages.dir}`,
      '--health-address=127.0.0.1:0',
      '--debounce-ms=100',
      '--resync-ms=30000',
    ]);
    await sidecar.waitForLog((l) => l.msg === 'watching TLS directories for certificate rotation', {
      includePast: true,
    });
    proxy = await startProxy(configOut);
    await sidecar.waitForLog((l) => l.msg?.startsWith('config applied') === true, {
      includePast: true,
    });
  });
  after(async () => {
    await sidecar?.stop();
    await proxy?.stop();
    await up?.close();
    await cleanup();
  });

  it('an edited page is validated and reloaded, and served', async () => {
    assert.equal(await notFound(), '<p>first</p>');
    await pages.update({ '404.html': '<p>second</p>' });
    await proxy.waitForLog((l) => l.msg === 'reload applied' && l.error_pages_changed === true, {
      includePast: true,
    });
    assert.equal(await notFound(), '<p>second</p>');
  });

  it('a page edited past the size limit is refused: no reload, the page stays', async () => {
    const reloads = () => proxy.logs.filter((l) => l.msg === 'reload applied').length;
    const before = reloads();
    await pages.update({ '404.html': 'x'.repeat(70_000) });
    const line = await sidecar.waitForLog(
      (l) => l.msg?.startsWith('new TLS files rejected') === true,
      { includePast: true },
    );
    assert.match(JSON.stringify(line.errors), /error_pages\.404: .*over the 65536-byte limit/);
    assert.equal(reloads(), before);
    assert.equal(await notFound(), '<p>second</p>');
  });
});

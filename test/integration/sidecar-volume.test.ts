import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi } from '../fake-kube-api.ts';
import {
  configYaml,
  request,
  sha256Hex,
  site,
  startProxy,
  startUpstream,
  tmpDir,
  writeConfig,
} from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { createKubeletVolume } from '../kubelet-volume.ts';
import type { KubeletVolume } from '../kubelet-volume.ts';
import { eventually, servedBy, startSidecarProcess } from '../sidecar-process.ts';
import type { SidecarProcess } from '../sidecar-process.ts';

describe('sidecar, volume mode: kubelet ..data swap to live routes', () => {
  let a: Upstream, b: Upstream;
  let api: FakeKubeApi;
  let dir: string;
  let cleanup: () => Promise<void>;
  let socket: string;
  let configOut: string;
  let volume: KubeletVolume;
  let sidecar: SidecarProcess;
  let proxy: ProxyProcess;
  const configFor = (u: Upstream) =>
    configYaml(site('main', ['*'], [['/', u.url]]), '', `  socket: ${socket}`);
  const publish = (text: string) => volume.update({ 'proxy.yaml': text, 'unrelated.txt': 'x' });

  before(async () => {
    a = await startUpstream('A');
    b = await startUpstream('B');
    // Volume mode needs no API; this one only receives the optional Events.
    api = await startFakeKubeApi();
    ({ dir, cleanup } = await tmpDir('rp-sidecar-vol-'));
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o700 });
    socket = join(run, 'admin.sock');
    configOut = join(run, 'proxy.yaml');
    volume = await createKubeletVolume(join(dir, 'configmap'), {
      'proxy.yaml': configFor(a),
      'unrelated.txt': 'x',
    });
    sidecar = await startSidecarProcess(
      [
        `--socket=${socket}`,
        `--config-out=${configOut}`,
        `--watch-dir=${volume.dir}`,
        '--events-configmap=proxy-config',
        '--namespace=rp-test',
        '--health-address=127.0.0.1:0',
        '--debounce-ms=100',
        // The safety net, long enough that the tests below see fs.watch do the work.
        '--resync-ms=30000',
      ],
      { KUBECONFIG: await api.writeKubeconfig(dir) },
    );
    await eventually('ready', async () =>
      (await request(`${sidecar.healthUrl}/readyz`)).status === 200 ? true : undefined,
    );
    proxy = await startProxy(configOut);
  });
  after(async () => {
    await sidecar?.stop();
    await proxy?.stop();
    await api.close();
    await a.close();
    await b.close();
    await cleanup();
  });

  it('delivered the mounted config before it reported ready', async () => {
    assert.equal(await readFile(configOut, 'utf8'), configFor(a));
    assert.equal((await stat(configOut)).mode & 0o777, 0o600);
    assert.equal(await servedBy(proxy), 'A');
    // Written atomically: nothing but the socket and the config in the directory.
    const names = (await readdir(join(dir, 'run'))).filter((n) => n !== 'admin.sock');
    assert.deepEqual(names, ['proxy.yaml']);
  });

  it('follows a ..data swap to the new upstream', async () => {
    await publish(configFor(b));
    await eventually('traffic on B', async () =>
      (await servedBy(proxy)) === 'B' ? true : undefined,
    );
    await sidecar.waitForLog(
      (l) => l.msg?.startsWith('config applied') === true && l.sha256 === sha256Hex(configFor(b)),
      { includePast: true },
    );
  });

  it('rejects an invalid swap: file untouched, Event posted on the named ConfigMap, traffic unchanged', async () => {
    const before = await readFile(configOut);
    await publish(configFor(b).replace('routes:', 'routez:'));
    const event = await eventually('ConfigRejected event', () =>
      api.events.find((e) => e.reason === 'ConfigRejected'),
    );
    assert.equal(event.type, 'Warning');
    assert.equal(event.involvedObject.name, 'proxy-config');
    assert.equal(event.involvedObject.namespace, 'rp-test');
    assert.deepEqual(await readFile(configOut), before);
    assert.equal(await servedBy(proxy), 'B');
  });

  it('delivers the next valid swap', async () => {
    await publish(configFor(a));
    await eventually('traffic on A', async () =>
      (await servedBy(proxy)) === 'A' ? true : undefined,
    );
  });

  it('survives the proxy restarting mid-way', async () => {
    assert.equal(await proxy.stop(), 0);
    await publish(configFor(b));
    await eventually('file written', async () =>
      (await readFile(configOut, 'utf8')) === configFor(b) ? true : undefined,
    );
    proxy = await startProxy(configOut);
    assert.equal(await servedBy(proxy), 'B');
    await sidecar.waitForLog(
      (l) => l.msg?.startsWith('config applied') === true && l.sha256 === sha256Hex(configFor(b)),
      { includePast: true },
    );
  });

  it('serves /livez and the metrics, and exits 0 on SIGTERM', async () => {
    assert.equal((await request(`${sidecar.healthUrl}/livez`)).status, 200);
    const metrics = (await request(`${sidecar.healthUrl}/metrics`)).body;
    for (const name of [
      'reverse_proxy_sidecar_last_reload_successful 1',
      'reverse_proxy_sidecar_last_reload_timestamp_seconds',
      'reverse_proxy_sidecar_deliveries_total{result="written"}',
      'reverse_proxy_sidecar_rejections_total{reason="invalid"} 1',
      'reverse_proxy_sidecar_reloads_total{result="confirmed"}',
      'reverse_proxy_sidecar_kube_events_total{reason="ConfigRejected",result="posted"} 1',
    ]) {
      assert.ok(metrics.includes(name), name);
    }
    assert.equal(await sidecar.stop(), 0);
  });
});

describe('sidecar, volume mode: the periodic re-hash', () => {
  it('picks up a change no fs event reports (the safety net), and runs without API access', async (t) => {
    const { dir, cleanup } = await tmpDir('rp-sidecar-vol-');
    t.after(cleanup);
    // The key is a symlink to a file outside the watched directory: changing that file
    // raises no event in the directory, so only the re-hash can see it.
    const elsewhere = join(dir, 'elsewhere');
    const watched = join(dir, 'watched');
    await mkdir(elsewhere);
    await mkdir(watched);
    const first = configYaml(site('main', ['*'], [['/', 'http://127.0.0.1:9']]));
    await writeConfig(join(elsewhere, 'proxy.yaml'), first);
    await symlink(join(elsewhere, 'proxy.yaml'), join(watched, 'proxy.yaml'));
    const configOut = join(dir, 'run', 'proxy.yaml');
    const sidecar = await startSidecarProcess([
      `--socket=${join(dir, 'run', 'admin.sock')}`,
      `--config-out=${configOut}`,
      `--watch-dir=${watched}`,
      '--health-address=127.0.0.1:0',
      '--resync-ms=200',
      '--reload-attempts=1',
    ]);
    t.after(() => sidecar.stop());
    await eventually('first config', async () =>
      (await readFile(configOut, 'utf8')) === first ? true : undefined,
    );
    const next = configYaml(site('main', ['*'], [['/', 'http://127.0.0.1:10']]));
    await writeConfig(join(elsewhere, 'proxy.yaml'), next);
    await eventually('re-hash delivered', async () =>
      (await readFile(configOut, 'utf8')) === next ? true : undefined,
    );
    const started = await sidecar.waitForLog((l) => l.msg === 'sidecar started', {
      includePast: true,
    });
    assert.equal(started.events, 'off');
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCertificate, servedName } from '../certs.ts';
import type { TestCertificate } from '../certs.ts';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi } from '../fake-kube-api.ts';
import { request, sha256Hex, startProxy, startUpstream, tmpDir } from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { createKubeletVolume } from '../kubelet-volume.ts';
import type { KubeletVolume } from '../kubelet-volume.ts';
import { eventually, startSidecarProcess } from '../sidecar-process.ts';
import type { SidecarProcess } from '../sidecar-process.ts';

function metric(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

describe('sidecar --tls-dir: a kubelet Secret swap to the proxy’s certificates', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let api: FakeKubeApi;
  let up: Upstream;
  let one: TestCertificate, two: TestCertificate, three: TestCertificate;
  let secret: KubeletVolume;
  let configmap: KubeletVolume;
  let config: string;
  let configOut: string;
  let sidecar: SidecarProcess;
  let proxy: ProxyProcess;
  const pair = (cert: TestCertificate, key: TestCertificate = cert) => ({
    'tls.crt': readFileSync(cert.certFile, 'utf8'),
    'tls.key': readFileSync(key.keyFile, 'utf8'),
  });
  const proxyReloads = () =>
    proxy.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('reload')).length;
  const metrics = async () => (await request(`${sidecar.healthUrl}/metrics`)).body;
  const RELOADED = 'reverse_proxy_sidecar_certificate_reloads_total{result="reloaded"}';
  const REJECTED = 'reverse_proxy_sidecar_certificate_reloads_total{result="rejected"}';

  before(async () => {
    ({ dir, cleanup } = await tmpDir('rp-sidecar-tls-'));
    const made = join(dir, 'made');
    await mkdir(made);
    one = makeCertificate(made, 'one', ['one.example']);
    two = makeCertificate(made, 'two', ['two.example']);
    three = makeCertificate(made, 'three', ['three.example']);
    up = await startUpstream('up');
    api = await startFakeKubeApi();
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o700 });
    const socket = join(run, 'admin.sock');
    configOut = join(run, 'proxy.yaml');
    secret = await createKubeletVolume(join(dir, 'secret'), pair(one));
    config = `listeners:
  - address: 127.0.0.1:0
    tls: true
admin:
  socket: ${socket}
health:
  address: 127.0.0.1:0
tls:
  certificates:
    - cert_file: ${join(secret.dir, 'tls.crt')}
      key_file: ${join(secret.dir, 'tls.key')}
sites:
  - name: main
    hosts: ["*"]
    routes:
      - { path: /, upstream: "${up.url}" }
`;
    configmap = await createKubeletVolume(join(dir, 'configmap'), { 'proxy.yaml': config });
    sidecar = await startSidecarProcess(
      [
        `--socket=${socket}`,
        `--config-out=${configOut}`,
        `--watch-dir=${configmap.dir}`,
        `--tls-dir=${secret.dir}`,
        '--events-configmap=proxy-config',
        '--namespace=rp-test',
        '--health-address=127.0.0.1:0',
        '--debounce-ms=100',
        // Long, so the tests see fs.watch do the work.
        '--resync-ms=30000',
      ],
      { KUBECONFIG: await api.writeKubeconfig(dir) },
    );
    await eventually('ready', async () =>
      (await request(`${sidecar.healthUrl}/readyz`)).status === 200 ? true : undefined,
    );
    proxy = await startProxy(configOut);
    // The first delivery's reload (retried until the proxy is up) is done before any swap.
    await sidecar.waitForLog((l) => l.msg?.startsWith('config applied') === true, {
      includePast: true,
    });
    await sidecar.waitForLog((l) => l.msg === 'watching TLS directories for certificate rotation', {
      includePast: true,
    });
  });
  after(async () => {
    await sidecar?.stop();
    await proxy?.stop();
    await api?.close();
    await up?.close();
    await cleanup();
  });

  it('serves the mounted pair', async () => {
    assert.equal(await servedName(proxy.port), 'one.example');
  });

  it('a swap to a new valid pair is validated, reloaded, and new handshakes get it', async () => {
    const reloadsBefore = proxyReloads();
    const logsBefore = proxy.logs.length;
    await secret.update(pair(two));
    await sidecar.waitForLog((l) => l.msg?.startsWith('certificates reloaded') === true, {
      includePast: true,
    });
    const applied = proxy.logs.slice(logsBefore).filter((l) => l.msg === 'reload applied');
    assert.equal(applied.length, 1);
    assert.equal(applied[0]?.certificates_changed, true);
    assert.equal(await servedName(proxy.port), 'two.example');
    assert.equal(proxyReloads(), reloadsBefore + 1);
    assert.equal(metric(await metrics(), RELOADED), 1);
    const event = await eventually('CertificatesReloaded event', () =>
      api.events.find((e) => e.reason === 'CertificatesReloaded'),
    );
    assert.equal(event.type, 'Normal');
  });

  it('a swap to a mismatched pair is refused: no reload, the old certificate keeps serving', async () => {
    const reloadsBefore = proxyReloads();
    await secret.update(pair(three, two));
    const line = await sidecar.waitForLog(
      (l) => l.msg?.startsWith('new TLS files rejected') === true,
      { includePast: true },
    );
    assert.match(JSON.stringify(line.errors), /tls\.key/);
    const event = await eventually('CertificatesRejected event', () =>
      api.events.find((e) => e.reason === 'CertificatesRejected'),
    );
    assert.equal(event.type, 'Warning');
    assert.equal(event.involvedObject.name, 'proxy-config');
    const text = await metrics();
    assert.equal(metric(text, REJECTED), 1);
    assert.equal(metric(text, RELOADED), 1);
    assert.equal(proxyReloads(), reloadsBefore);
    assert.equal(await servedName(proxy.port), 'two.example');
  });

  it('a route change while the pair is bad is refused too (the same check)', async () => {
    await configmap.update({ 'proxy.yaml': config.replace('name: main', 'name: renamed') });
    await eventually('ConfigRejected event', () =>
      api.events.find((e) => e.reason === 'ConfigRejected'),
    );
    assert.equal(readFileSync(configOut, 'utf8'), config);
  });

  it('a later good pair is reloaded, and the refused route change is delivered with it', async () => {
    await secret.update(pair(three));
    await eventually('reloaded twice', async () =>
      metric(await metrics(), RELOADED) === 2 ? true : undefined,
    );
    assert.equal(await servedName(proxy.port), 'three.example');
    const renamed = config.replace('name: main', 'name: renamed');
    await sidecar.waitForLog(
      (l) => l.msg?.startsWith('config applied') === true && l.sha256 === sha256Hex(renamed),
      { includePast: true },
    );
    assert.equal(readFileSync(configOut, 'utf8'), renamed);
  });

  it('an expired pair is served, not refused: reloaded, with a CertificateWarnings Event', async () => {
    const expired = makeCertificate(join(dir, 'made'), 'old', ['old.example'], { expired: true });
    await secret.update(pair(expired));
    await eventually('reloaded a third time', async () =>
      metric(await metrics(), RELOADED) === 3 ? true : undefined,
    );
    assert.equal(await servedName(proxy.port), 'old.example');
    const event = await eventually('CertificateWarnings event', () =>
      api.events.find((e) => e.reason === 'CertificateWarnings'),
    );
    assert.equal(event.type, 'Warning');
    assert.match(String(event.message), /expired on 2020-01-02T00:00:00.000Z; served anyway/);
    const applied = await proxy.waitForLog(
      (l) => l.msg === 'reload applied' && l.certificate_warnings !== undefined,
      { includePast: true },
    );
    assert.match(JSON.stringify(applied.certificate_warnings), /expired on/);
  });
});

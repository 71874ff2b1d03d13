import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSync } from 'bcryptjs';
import { request, startProxy, startUpstream, tmpDir } from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { createKubeletVolume } from '../kubelet-volume.ts';
import type { KubeletVolume } from '../kubelet-volume.ts';
import { startSidecarProcess } from '../sidecar-process.ts';
import type { SidecarProcess } from '../sidecar-process.ts';

const entry = (user: string, password: string) => `${user}:${hashSync(password, 5)}\n`;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * What the chart wires up (auth.htpasswdSecret): the htpasswd Secret mounted as a kubelet
 * volume, watched by the sidecar (--tls-dir), which validates the config with the new file and
 * reloads the proxy; a broken file is refused and the proxy keeps its users.
 */
describe('sidecar and an htpasswd Secret', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: Upstream;
  let secret: KubeletVolume;
  let sidecar: SidecarProcess;
  let proxy: ProxyProcess;
  const status = async (user: string, password: string) =>
    (
      await request(`${proxy.url}/`, {
        host: 'app.test',
        headers: { authorization: basic(user, password) },
      })
    ).status;

  before(async () => {
    ({ dir, cleanup } = await tmpDir('rp-sidecar-auth-'));
    up = await startUpstream('up');
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o700 });
    const socket = join(run, 'admin.sock');
    const configOut = join(run, 'proxy.yaml');
    secret = await createKubeletVolume(join(dir, 'auth'), { htpasswd: entry('alice', 'a-pass') });
    const config = `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ${socket}
health:
  address: 127.0.0.1:0
sites:
  - name: app
    hosts: [app.test]
    access:
      basic_auth: { realm: app, htpasswd_file: ${join(secret.dir, 'htpasswd')} }
    routes:
      - { path: /, upstream: "${up.url}" }
`;
    const configmap = await createKubeletVolume(join(dir, 'configmap'), { 'proxy.yaml': config });
    sidecar = await startSidecarProcess([
      `--socket=${socket}`,
      `--config-out=${configOut}`,
      `--watch-dir=${configmap.dir}`,
      `--tls-dir=${secret.dir}`,
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

  it('an edited Secret is validated and reloaded: the user added logs in, the one removed stops', async () => {
    assert.equal(await status('alice', 'a-pass'), 200);
    const logsBefore = proxy.logs.length;
    await secret.update({ htpasswd: entry('bob', 'b-pass') });
    await proxy.waitForLog((l) => l.msg === 'reload applied' && l.htpasswd_changed === true, {
      includePast: true,
    });
    assert.ok(proxy.logs.length > logsBefore);
    assert.equal(await status('bob', 'b-pass'), 200);
    assert.equal(await status('alice', 'a-pass'), 401);
  });

  it('a Secret edited into a file that is not all bcrypt is refused: no reload, the users stay', async () => {
    const reloads = () => proxy.logs.filter((l) => l.msg === 'reload applied').length;
    const before = reloads();
    await secret.update({ htpasswd: `${entry('bob', 'b-pass')}carol:$apr1$x$y\n` });
    const line = await sidecar.waitForLog(
      (l) => l.msg?.startsWith('new TLS files rejected') === true,
      { includePast: true },
    );
    assert.match(
      JSON.stringify(line.errors),
      /htpasswd line 2: user \\"carol\\" uses \$apr1\$ \(MD5\)/,
    );
    assert.equal(reloads(), before);
    assert.equal(await status('bob', 'b-pass'), 200);
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi } from '../fake-kube-api.ts';
import {
  CLI,
  configYaml,
  request,
  sha256Hex,
  site,
  startProxy,
  startUpstream,
  tmpDir,
} from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { eventually, servedBy, startSidecarProcess } from '../sidecar-process.ts';
import type { SidecarProcess } from '../sidecar-process.ts';

const NS = 'rp-test';
const CM = 'proxy-config';

/** The value of an unlabelled sidecar metric (0 until it is first set). */
async function metric(sidecar: SidecarProcess, name: string): Promise<number> {
  const text = (await request(`${sidecar.healthUrl}/metrics`)).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('sidecar, API mode: ConfigMap change to live routes', () => {
  let a: Upstream, b: Upstream;
  let api: FakeKubeApi;
  let dir: string;
  let cleanup: () => Promise<void>;
  let socket: string;
  let configOut: string;
  let kubeconfig: string;
  let sidecar: SidecarProcess;
  let proxy: ProxyProcess;
  const configFor = (u: Upstream) =>
    configYaml(site('main', ['*'], [['/', u.url]]), '', `  socket: ${socket}`);
  const publish = (text: string) => api.setConfigMap(NS, CM, { 'proxy.yaml': text });
  const applied = (text: string) =>
    sidecar.waitForLog(
      (l) => l.msg?.startsWith('config applied') === true && l.sha256 === sha256Hex(text),
      {
        includePast: true,
      },
    );

  before(async () => {
    a = await startUpstream('A');
    b = await startUpstream('B');
    api = await startFakeKubeApi();
    ({ dir, cleanup } = await tmpDir('rp-sidecar-'));
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o700 });
    socket = join(run, 'admin.sock');
    configOut = join(run, 'proxy.yaml');
    kubeconfig = await api.writeKubeconfig(dir, NS);
    publish(configFor(a));
  });
  after(async () => {
    await sidecar?.stop();
    await proxy?.stop();
    await api.close();
    await a.close();
    await b.close();
    await cleanup();
  });

  it('writes the current ConfigMap (0600) before it reports ready, then reloads the proxy that starts after it', async () => {
    // Native-sidecar order: the sidecar first, the proxy once the sidecar is ready.
    sidecar = await startSidecarProcess(
      [
        `--socket=${socket}`,
        `--config-out=${configOut}`,
        `--configmap=${CM}`,
        `--namespace=${NS}`,
        '--health-address=127.0.0.1:0',
        '--debounce-ms=100',
        '--stall-timeout-ms=1500',
        '--reload-attempts=50',
      ],
      { KUBECONFIG: kubeconfig },
    );
    await eventually('ready', async () =>
      (await request(`${sidecar.healthUrl}/readyz`)).status === 200 ? true : undefined,
    );
    assert.equal(await readFile(configOut, 'utf8'), configFor(a));
    assert.equal((await stat(configOut)).mode & 0o777, 0o600);
    const lists = api.requests.filter((r) => r.verb === 'list' || r.verb === 'watch');
    assert.ok(lists.length > 0);
    for (const r of lists)
      assert.equal(r.query.fieldSelector, `metadata.name=${CM}`, 'RBAC resourceNames needs it');

    proxy = await startProxy(configOut);
    assert.equal(await servedBy(proxy), 'A');
    // The sidecar's reload retries (still backing off) confirm it later; the restart test
    // below waits for that confirmation.
    assert.equal((await request(`${sidecar.healthUrl}/livez`)).status, 200);
  });

  it('moves traffic within 1 s of a ConfigMap update', async () => {
    publish(configFor(b));
    // The one timing promise of the issue; 100 ms of it is the test's debounce.
    await eventually(
      'traffic on B',
      async () => ((await servedBy(proxy)) === 'B' ? true : undefined),
      1_000,
    );
    await applied(configFor(b));
  });

  it('rejects an invalid update: file untouched, Warning Event on the ConfigMap, traffic unchanged', async () => {
    const before = await readFile(configOut);
    const invalid = configFor(a).replace(a.url, 'ftp://nowhere');
    publish(invalid);
    const event = await eventually('ConfigRejected event', () =>
      api.events.find((e) => e.reason === 'ConfigRejected'),
    );
    assert.equal(event.type, 'Warning');
    assert.equal(event.involvedObject.kind, 'ConfigMap');
    assert.equal(event.involvedObject.name, CM);
    assert.equal(event.involvedObject.namespace, NS);
    assert.ok(event.involvedObject.uid, 'the Event names this ConfigMap, not a namesake');
    assert.match(event.message, /sites\[0\]\.routes\[0\]\.upstream/);
    assert.deepEqual(await readFile(configOut), before);
    assert.equal(await servedBy(proxy), 'B');
    const line = await sidecar.waitForLog((l) => l.msg?.startsWith('config rejected') === true, {
      includePast: true,
    });
    assert.equal(line.code, 'ERR_CONFIG_INVALID');
    assert.equal(
      await metric(sidecar, 'reverse_proxy_sidecar_rejections_total{reason="invalid"}'),
      1,
    );
  });

  it('delivers the next valid update, with a Normal ConfigApplied Event', async () => {
    publish(configFor(a));
    await eventually('traffic on A', async () =>
      (await servedBy(proxy)) === 'A' ? true : undefined,
    );
    await applied(configFor(a));
    await eventually('ConfigApplied event', () =>
      api.events.find((e) => e.reason === 'ConfigApplied' && e.type === 'Normal'),
    );
    assert.equal(await metric(sidecar, 'reverse_proxy_sidecar_last_reload_successful'), 1);
    assert.ok((await metric(sidecar, 'reverse_proxy_sidecar_last_reload_timestamp_seconds')) > 0);
  });

  it('survives 410 Gone (as a watch ERROR event and as an HTTP 410) by re-listing', async () => {
    let lists = api.requests.filter((r) => r.verb === 'list').length;
    api.compact('event');
    publish(configFor(b));
    await eventually('traffic on B', async () =>
      (await servedBy(proxy)) === 'B' ? true : undefined,
    );
    assert.ok(api.requests.filter((r) => r.verb === 'list').length > lists, 're-listed');
    await sidecar.waitForLog((l) => l.msg?.includes('410 Gone') === true, { includePast: true });

    lists = api.requests.filter((r) => r.verb === 'list').length;
    api.compact('http');
    api.dropWatches();
    publish(configFor(a));
    await eventually('traffic on A', async () =>
      (await servedBy(proxy)) === 'A' ? true : undefined,
    );
    assert.ok(api.requests.some((r) => r.verb === 'watch' && r.status === 410));
    assert.ok(api.requests.filter((r) => r.verb === 'list').length > lists, 're-listed');
  });

  it('survives a dropped watch connection', async () => {
    await eventually('a watch open', () => (api.openWatches() > 0 ? true : undefined));
    api.dropWatches();
    publish(configFor(b));
    await eventually('traffic on B', async () =>
      (await servedBy(proxy)) === 'B' ? true : undefined,
    );
  });

  it('survives the proxy restarting mid-way: retries deliver and confirm', async () => {
    assert.equal(await proxy.stop(), 0);
    publish(configFor(a));
    await eventually('file written', async () =>
      (await readFile(configOut, 'utf8')) === configFor(a) ? true : undefined,
    );
    await sidecar.waitForLog(
      (l) => l.msg?.startsWith('reload attempt failed') === true && l.reason === 'unreachable',
      {
        includePast: true,
      },
    );
    proxy = await startProxy(configOut);
    assert.equal(await servedBy(proxy), 'A');
    await applied(configFor(a));
  });

  it('reports a 403 on the watch clearly (verb, resource) and retries', async () => {
    api.forbid('watch', 1);
    api.dropWatches();
    const line = await sidecar.waitForLog((l) => l.code === 'ERR_KUBE_FORBIDDEN', {
      includePast: true,
    });
    assert.equal(line.verb, 'watch');
    assert.equal(line.resource, 'configmaps');
    assert.equal(line.name, CM);
    assert.equal(line.namespace, NS);
    assert.match(
      String(line.msg),
      /forbidden: cannot watch configmaps "proxy-config" in namespace "rp-test"/,
    );
    publish(configFor(b));
    await eventually('traffic on B', async () =>
      (await servedBy(proxy)) === 'B' ? true : undefined,
    );
  });

  it('restarts a watch, and a list, that stall silently (no answer, no contact)', async () => {
    api.stall({ watch: true, list: true });
    api.dropWatches();
    await eventually('stalled watch open', () => (api.openWatches() > 0 ? true : undefined));
    // Missed by the stalled watch; only a restart with a fresh list can see it.
    publish(configFor(a));
    // The watch request times out first (client-node's timer), then the re-list hangs and the
    // stall detector itself must abort it.
    await sidecar.waitForLog(
      (l) => l.msg?.includes('went silent') === true && String(l.cause).startsWith('no answer'),
      {
        includePast: true,
      },
    );
    await sidecar.waitForLog(
      (l) => l.msg?.includes('went silent') === true && String(l.cause).startsWith('no contact'),
      {
        includePast: true,
      },
    );
    api.stall({ watch: false, list: false });
    await eventually('traffic on A', async () =>
      (await servedBy(proxy)) === 'A' ? true : undefined,
    );
    const metrics = (await request(`${sidecar.healthUrl}/metrics`)).body;
    assert.match(metrics, /reverse_proxy_sidecar_watch_restarts_total\{reason="stall"\} [2-9]/);
  });

  it('exits 0 on SIGTERM', async () => {
    assert.equal(await sidecar.stop(), 0);
    await sidecar.waitForLog((l) => l.msg === 'sidecar stopped', { includePast: true });
  });
});

describe('sidecar, API mode: start-up failures', () => {
  it('retries a forbidden list, stays not ready on an invalid ConfigMap, and becomes ready once it is fixed', async (t) => {
    const api = await startFakeKubeApi();
    const { dir, cleanup } = await tmpDir('rp-sidecar-');
    t.after(async () => {
      await api.close();
      await cleanup();
    });
    const configOut = join(dir, 'run', 'proxy.yaml');
    api.setConfigMap(NS, CM, { 'proxy.yaml': 'sites: [' });
    api.forbid('list', 1);
    const sidecar = await startSidecarProcess(
      [
        `--socket=${join(dir, 'run', 'admin.sock')}`,
        `--config-out=${configOut}`,
        `--configmap=${CM}`,
        '--health-address=127.0.0.1:0',
        '--debounce-ms=50',
      ],
      // No --namespace: the kubeconfig context's namespace is used.
      { KUBECONFIG: await api.writeKubeconfig(dir, NS) },
    );
    t.after(() => sidecar.stop());
    const forbidden = await sidecar.waitForLog((l) => l.code === 'ERR_KUBE_FORBIDDEN', {
      includePast: true,
    });
    assert.equal(forbidden.verb, 'list');
    assert.match(String(forbidden.status), /403/);
    assert.match(String(forbidden.detail), /cannot list resource "configmaps"/);
    await eventually('ConfigRejected event', () =>
      api.events.find((e) => e.reason === 'ConfigRejected'),
    );
    const notReady = await request(`${sidecar.healthUrl}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /ERR_CONFIG_PARSE/);
    await assert.rejects(stat(configOut), { code: 'ENOENT' });

    const good = configYaml(site('main', ['*'], [['/', 'http://127.0.0.1:9']]));
    api.setConfigMap(NS, CM, { 'proxy.yaml': good });
    await eventually('ready', async () =>
      (await request(`${sidecar.healthUrl}/readyz`)).status === 200 ? true : undefined,
    );
    assert.equal(await readFile(configOut, 'utf8'), good);
    assert.equal(await sidecar.stop(), 0);
  });

  it('fails /livez when the API stays out of reach, and still exits 0 on SIGTERM', async (t) => {
    const api = await startFakeKubeApi();
    const { dir, cleanup } = await tmpDir('rp-sidecar-');
    t.after(cleanup);
    const kubeconfig = await api.writeKubeconfig(dir, NS);
    await api.close(); // connection refused from now on
    const sidecar = await startSidecarProcess(
      [
        `--socket=${join(dir, 'run', 'admin.sock')}`,
        `--config-out=${join(dir, 'run', 'proxy.yaml')}`,
        `--configmap=${CM}`,
        '--health-address=127.0.0.1:0',
        '--stall-timeout-ms=300',
      ],
      { KUBECONFIG: kubeconfig },
    );
    t.after(() => sidecar.stop());
    const reply = await eventually('not live', async () => {
      const r = await request(`${sidecar.healthUrl}/livez`);
      return r.status === 503 ? r : undefined;
    });
    assert.match(reply.body, /no successful contact with configmap rp-test\/proxy-config/);
    assert.equal((await request(`${sidecar.healthUrl}/readyz`)).status, 503);
    const failed = await sidecar.waitForLog((l) => l.code === 'ERR_KUBE_API', {
      includePast: true,
    });
    assert.equal(failed.verb, 'list');
    assert.match(String(failed.detail), /ECONNREFUSED/);
    assert.equal(await sidecar.stop(), 0);
  });

  it('refuses a bad command line with exit 2 and says what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['--config-out=/tmp/x', '--configmap=c'], /--socket PATH is required/],
      [['--socket=/s', '--config-out=/tmp/x', '--configmap=c', '--watch-dir=/d'], /exactly one of/],
      [
        ['--socket=/s', '--config-out=/tmp/x', '--watch-dir=/d', '--debounce-ms=soon'],
        /--debounce-ms must be an integer/,
      ],
    ];
    // In parallel: each run loads the whole CLI, which is most of its time.
    await Promise.all(
      cases.map(async ([args, message]) => {
        const result = await run([CLI, 'sidecar', ...args]);
        assert.equal(result.code, 2, args.join(' '));
        assert.match(result.stderr, message);
      }),
    );
  });

  it('exits 1 with ERR_KUBE_CONFIG when there is neither a cluster nor a KUBECONFIG', async () => {
    const result = await run(
      [
        CLI,
        'sidecar',
        '--socket=/s',
        '--config-out=/tmp/x',
        '--configmap=c',
        '--health-address=127.0.0.1:0',
      ],
      { PATH: process.env.PATH },
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ERR_KUBE_CONFIG/);
  });
});

describe('sidecar --tls-dir usage errors', () => {
  it('refuses a missing value, a missing path, a file and a repeat with exit 2, naming each', async () => {
    const { dir, cleanup } = await tmpDir('rp-sidecar-tls-dir-');
    const file = join(dir, 'tls.crt');
    await writeFile(file, 'not a directory');
    const base = ['--socket=/s', '--config-out=/tmp/x', `--watch-dir=${dir}`];
    const cases: [string[], RegExp][] = [
      [[...base, '--tls-dir'], /--tls-dir <value>' argument missing/],
      [[...base, '--tls-dir', '--log-level=info'], /argument for '--tls-dir'/],
      [[...base, '--tls-dir='], /--tls-dir needs a value/],
      [
        [...base, `--tls-dir=${join(dir, 'absent')}`],
        new RegExp(`--tls-dir ${escape(join(dir, 'absent'))}: no such directory`),
      ],
      [
        [...base, `--tls-dir=${join(file, 'sub')}`],
        new RegExp(`--tls-dir ${escape(join(file, 'sub'))}: no such directory`),
      ],
      [[...base, `--tls-dir=${file}`], new RegExp(`--tls-dir ${escape(file)}: not a directory`)],
      [
        [...base, `--tls-dir=${dir}`, `--tls-dir=${dir}/`],
        new RegExp(`--tls-dir ${escape(dir)}/: given twice`),
      ],
    ];
    try {
      await Promise.all(
        cases.map(async ([args, message]) => {
          const result = await run([CLI, 'sidecar', ...args]);
          assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
          assert.match(result.stderr, message);
          assert.match(result.stderr, /^reverse-proxy: sidecar: /);
        }),
      );
    } finally {
      await cleanup();
    }
  });
});

describe('sidecar guard flag usage errors', () => {
  it('refuses inconsistent or out-of-range guard flags with exit 2, naming the flag', async () => {
    const volume = ['--socket=/s', '--config-out=/tmp/x', '--watch-dir=/tmp'];
    const api = ['--socket=/s', '--config-out=/tmp/x', '--configmap=cm'];
    const cases: [string[], RegExp][] = [
      [[...volume, '--guard=maybe'], /--guard must be on or off/],
      [[...api, '--rollout-lease=l'], /--rollout-lease and --last-good-configmap go together/],
      [
        [...volume, '--rollout-lease=l', '--last-good-configmap=g'],
        /--rollout-lease is for API mode \(--configmap\)/,
      ],
      [
        [...api, '--guard=off', '--rollout-lease=l', '--last-good-configmap=g'],
        /--rollout-lease needs the guard on/,
      ],
      [[...volume, '--bake-ms=5'], /--bake-ms must be an integer from 100 to/],
      [
        [...volume, '--error-ratio-increase=2'],
        /--error-ratio-increase must be a number from 0 to 1/,
      ],
      [[...volume, '--p99-factor=0.5'], /--p99-factor must be a number from 1 to/],
      [
        [...volume, '--proxy-metrics=https://x/metrics'],
        /--proxy-metrics must be an http:\/\/ URL/,
      ],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        const result = await run([CLI, 'sidecar', ...args]);
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, message);
      }),
    );
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function run(
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { env: env ?? { PATH: process.env.PATH } },
      (err, _stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') return reject(err);
        resolve({ code: err === null ? 0 : (err.code as number), stderr });
      },
    );
  });
}

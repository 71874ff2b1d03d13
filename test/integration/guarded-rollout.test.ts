import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi, RecordedEvent } from '../fake-kube-api.ts';
import { request, sha256Hex, startUpstream, tmpDir } from '../helpers.ts';
import { createKubeletVolume } from '../kubelet-volume.ts';
import type { KubeletVolume } from '../kubelet-volume.ts';
import type { Upstream } from '../helpers.ts';
import { drive, startPair, TEST_GUARD_FLAGS } from '../rollout-pair.ts';
import type { Pair } from '../rollout-pair.ts';
import { eventually, startSidecarProcess } from '../sidecar-process.ts';

const NS = 'rp-test';
const CM = 'proxy-config';
const LEASE = 'rp-rollout';
const LAST_GOOD = 'rp-last-good';

/** The ConfigMap's config: `/` to one upstream, `/quiet/` to another, `/extra/` if asked. */
function configText(main: Upstream, quiet: Upstream, note = ''): string {
  return `# ${note}
listeners:
  - address: 127.0.0.1:0
admin:
  socket: /run/reverse-proxy/admin.sock
health:
  address: 127.0.0.1:0
sites:
  - name: main
    hosts: ["*"]
    routes:
      - path: /
        upstream: ${main.url}
      - path: /quiet/
        upstream: ${quiet.url}
`;
}

const confirmed = (pair: Pair, text: string) =>
  pair.sidecar.waitForLog(
    (l) => l.msg?.startsWith('config applied') === true && l.sha256 === sha256Hex(text),
    { includePast: true, timeoutMs: 20_000 },
  );

const eventOf = (api: FakeKubeApi, reason: string, sha: string): RecordedEvent | undefined =>
  api.events.find((e) => e.reason === reason && e.message.includes(sha.slice(0, 12)));

describe('guarded rollout, three pods on one ConfigMap', () => {
  let api: FakeKubeApi;
  let good: Upstream, bad: Upstream, other: Upstream;
  let kubeconfig: string;
  let cleanup: () => Promise<void>;
  const pairs: Pair[] = [];
  let stopTraffic: () => Promise<void>;
  const publish = (text: string) => api.setConfigMap(NS, CM, { 'proxy.yaml': text });
  const lease = () => api.getLease(NS, LEASE);
  const stateOf = (text: string) => {
    const history = JSON.parse(
      lease()?.metadata.annotations?.['reverse-proxy.dev/history'] ?? '[]',
    );
    return (history as { sha256: string; state: string }[]).find(
      (r) => r.sha256 === sha256Hex(text),
    )?.state;
  };
  const pairArgs = (pod: string) => ({
    pod,
    sidecarArgs: [
      `--configmap=${CM}`,
      `--namespace=${NS}`,
      `--rollout-lease=${LEASE}`,
      `--last-good-configmap=${LAST_GOOD}`,
    ],
    env: { KUBECONFIG: kubeconfig },
  });
  const v1 = () => configText(good, other, 'v1');

  before(async () => {
    good = await startUpstream('good');
    other = await startUpstream('other');
    bad = await startUpstream('bad', (_req, res) => res.writeHead(503).end('bad'));
    api = await startFakeKubeApi();
    let dir: string;
    ({ dir, cleanup } = await tmpDir('rp-rollout-'));
    kubeconfig = await api.writeKubeconfig(dir, NS);
    // What the chart creates, empty.
    api.setLease(NS, LEASE);
    api.setConfigMap(NS, LAST_GOOD, {});
    publish(v1());
    for (const pod of ['pod-0', 'pod-1', 'pod-2']) pairs.push(await startPair(pairArgs(pod)));
    for (const pair of pairs) await confirmed(pair, v1());
    stopTraffic = drive(() => pairs);
    // The minutes before the change, in test time: every pair serves `/` from `good`.
    await eventually('baseline traffic', () =>
      pairs.every((p) => p.served.filter((s) => s === 'good').length >= 60) ? true : undefined,
    );
  });

  after(async () => {
    await stopTraffic?.();
    for (const pair of pairs) await pair.stop();
    await api.close();
    for (const up of [good, bad, other]) await up?.close();
    await cleanup();
  });

  it('the first config of the release is promoted and stored as the last good one', async () => {
    await eventually('v1 promoted', () => (stateOf(v1()) === 'promoted' ? true : undefined));
    assert.equal(api.getConfigMap(NS, LAST_GOOD)?.data['proxy.yaml'], v1());
  });

  it('a valid but wrong change reaches one pod, is rolled back there within the bake, and the Event names the route', async () => {
    const wrong = configText(bad, other, 'v2: / moved to an upstream that answers 503');
    const before = pairs.map((p) => p.served.length);
    const editedAt = Date.now();
    publish(wrong);
    const event = await eventually(
      'ConfigRolledBack',
      () => eventOf(api, 'ConfigRolledBack', sha256Hex(wrong)),
      15_000,
    );
    const rollbackMs = Date.now() - editedAt;
    assert.equal(event.type, 'Warning');
    assert.match(event.message, /5xx ratio of route main \/ rose from 0\.0% to/);
    assert.match(event.message, /change was: 1 route changed \(main \/: upstream\)/);
    assert.equal(stateOf(wrong), 'rolled-back');
    // Exactly one pod served the bad revision; the others never did.
    const servedBad = pairs.map(
      (p, i) => p.served.slice(before[i]).filter((s) => s === '503').length,
    );
    assert.equal(servedBad.filter((n) => n > 0).length, 1, `503s per pod: ${servedBad.join(', ')}`);
    // Traffic is back on the old upstream everywhere.
    for (const pair of pairs) {
      const mark = pair.served.length;
      await eventually(`${pair.pod} back on good`, () =>
        pair.served.slice(mark).filter((s) => s === 'good').length >= 10 ? true : undefined,
      );
    }
    const rolled = pairs.find((_p, i) => (servedBad[i] ?? 0) > 0) as Pair;
    const line = await rolled.sidecar.waitForLog(
      (l) => String(l.msg).startsWith('config rolled back'),
      {
        includePast: true,
      },
    );
    assert.equal((line.regression as { route: string }).route, 'main /');
    const metrics = (await request(`${rolled.sidecar.healthUrl}/metrics`)).body;
    assert.match(metrics, /reverse_proxy_sidecar_rollbacks_total\{figure="error_ratio"\} 1/);
    process.stdout.write(`# ConfigMap edit to rollback Event: ${rollbackMs} ms (bake 3000 ms)\n`);
    assert.ok(rollbackMs < 3_000 + 5_000, 'within the bake period (plus delivery and reload)');
  });

  it('a good change bakes on one pod, is promoted, then reaches every pod', async () => {
    const better = configText(good, other, 'v3: only a comment changed, a new revision');
    publish(better);
    for (const pair of pairs) await confirmed(pair, better);
    assert.equal(stateOf(better), 'promoted');
    assert.ok(eventOf(api, 'ConfigPromoted', sha256Hex(better)));
    assert.equal(api.getConfigMap(NS, LAST_GOOD)?.data['proxy.yaml'], better);
    const held = api.events.filter(
      (e) => e.reason === 'ConfigHeld' && e.message.includes(sha256Hex(better).slice(0, 12)),
    );
    assert.equal(held.length, 2, 'the two other pods waited for the bake');
  });

  it('a quiet route (below --min-requests) never triggers a rollback', async () => {
    const quietBad = configText(good, bad, 'v4: /quiet/ to the 503 upstream');
    publish(quietBad);
    // A handful of requests to the quiet route on every pod, fewer than --min-requests.
    for (let i = 0; i < 5; i++) {
      for (const pair of pairs) await request(`${pair.proxy.url}/quiet/x`, { host: 'any.example' });
    }
    for (const pair of pairs) await confirmed(pair, quietBad);
    assert.equal(stateOf(quietBad), 'promoted');
    assert.equal(eventOf(api, 'ConfigRolledBack', sha256Hex(quietBad)), undefined);
  });

  it('when the baking pod dies mid-bake its Lease expires and another pod takes over', async () => {
    const next = configText(good, other, 'v5: handed over');
    publish(next);
    const baking = await eventually('a pod bakes v5', () =>
      pairs.find((p) =>
        p.sidecar.logs.some(
          (l) => l.msg === 'baking the new config' && l.sha256 === sha256Hex(next),
        ),
      ),
    );
    await baking.kill();
    pairs.splice(pairs.indexOf(baking), 1);
    for (const pair of pairs) await confirmed(pair, next);
    await eventually('v5 promoted by another pod', () =>
      stateOf(next) === 'promoted' ? true : undefined,
    );
    const holder = JSON.parse(
      lease()?.metadata.annotations?.['reverse-proxy.dev/history'] ?? '[]',
    )[0];
    assert.notEqual(holder.pod, baking.pod);
    assert.ok((lease()?.spec.leaseTransitions ?? 0) >= 2);
  });

  it('a pod that starts while the ConfigMap is invalid becomes ready on the last good config, and says so', async () => {
    const lastGood = api.getConfigMap(NS, LAST_GOOD)?.data['proxy.yaml'] as string;
    publish('sites: [this is not a site]\n');
    const fresh = await startPair(pairArgs('pod-3'));
    pairs.push(fresh);
    await confirmed(fresh, lastGood);
    assert.equal(
      (await request(`${fresh.proxy.url}/`, { host: 'any.example' })).body.split(' ')[0],
      'good',
    );
    const event = await eventually('ConfigFallback', () =>
      api.events.find((e) => e.reason === 'ConfigFallback' && e.message.includes('pod-3')),
    );
    assert.equal(event.type, 'Warning');
    const metrics = (await request(`${fresh.sidecar.healthUrl}/metrics`)).body;
    assert.match(metrics, /reverse_proxy_sidecar_serving_last_good 1/);
    const status = (await request(`${fresh.proxy.healthUrl}/metrics`)).status;
    assert.equal(status, 200);
  });

  it('never serves a stored last good config that fails validation', async () => {
    api.setConfigMap(NS, LAST_GOOD, { 'proxy.yaml': 'sites: []\n' });
    publish('sites: [still not a site]\n');
    const { dir, cleanup: rm } = await tmpDir('rp-rollout-bad-last-good-');
    const sidecar = await startSidecarProcess(
      [
        `--socket=${join(dir, 'admin.sock')}`,
        `--config-out=${join(dir, 'proxy.yaml')}`,
        '--health-address=127.0.0.1:0',
        ...TEST_GUARD_FLAGS,
        ...pairArgs('pod-9').sidecarArgs,
      ],
      { KUBECONFIG: kubeconfig, POD_NAME: 'pod-9' },
    );
    try {
      const line = await sidecar.waitForLog(
        (l) => String(l.msg).startsWith('the stored last good config is invalid'),
        { includePast: true },
      );
      assert.match(String(line.errors), /listeners: is required/);
      const ready = await request(`${sidecar.healthUrl}/readyz`);
      assert.equal(ready.status, 503, 'nothing valid to serve: not ready');
      assert.equal(
        sidecar.logs.some((l) => l.msg === 'config written'),
        false,
      );
    } finally {
      await sidecar.stop();
      await rm();
    }
  });
});

describe('guarded rollout, volume mode: one pod bakes and rolls back alone', () => {
  let good: Upstream, bad: Upstream, other: Upstream;
  let pair: Pair;
  let cleanup: () => Promise<void>;
  let volume: KubeletVolume;
  let stopTraffic: () => Promise<void>;
  const v1 = () => configText(good, other, 'v1');

  before(async () => {
    good = await startUpstream('good');
    other = await startUpstream('other');
    bad = await startUpstream('bad', (_req, res) => res.writeHead(503).end('bad'));
    let dir: string;
    ({ dir, cleanup } = await tmpDir('rp-rollout-volume-'));
    volume = await createKubeletVolume(join(dir, 'configmap'), { 'proxy.yaml': v1() });
    pair = await startPair({
      pod: 'solo',
      sidecarArgs: [`--watch-dir=${volume.dir}`, '--resync-ms=200'],
      env: {},
    });
    await confirmed(pair, v1());
    stopTraffic = drive(() => [pair]);
    await eventually('baseline', () =>
      pair.served.filter((s) => s === 'good').length >= 60 ? true : undefined,
    );
  });

  after(async () => {
    await stopTraffic?.();
    await pair?.stop();
    for (const up of [good, bad, other]) await up?.close();
    await cleanup();
  });

  it('rolls a wrong change back on its own pod, with no Lease', async () => {
    await volume.update({ 'proxy.yaml': configText(bad, other, 'v2') });
    await pair.sidecar.waitForLog((l) => String(l.msg).startsWith('config rolled back'), {
      timeoutMs: 15_000,
    });
    const back = await pair.sidecar.waitForLog(
      (l) => String(l.msg).startsWith('config applied') && l.why === 'rollback',
      { includePast: true },
    );
    assert.equal(back.sha256, sha256Hex(v1()));
    const mark = pair.served.length;
    await eventually('back on good', () =>
      pair.served.slice(mark).filter((s) => s === 'good').length >= 10 ? true : undefined,
    );
  });
});

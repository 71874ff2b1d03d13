import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import {
  LeaseConflict,
  LeaseStore,
  RolledBackElsewhere,
} from '../../../src/sidecar/rollout/lease-store.ts';
import { startFakeKubeApi } from '../../fake-kube-api.ts';
import type { FakeKubeApi } from '../../fake-kube-api.ts';
import { tmpDir } from '../../helpers.ts';

describe('LeaseStore (against the protocol-level fake API)', () => {
  let api: FakeKubeApi;
  let kubeConfig: KubeConfig;
  let cleanup: () => Promise<void>;
  const store = () => new LeaseStore(kubeConfig, 'ns', 'rollout', 2);

  before(async () => {
    api = await startFakeKubeApi();
    let dir: string;
    ({ dir, cleanup } = await tmpDir('rp-lease-'));
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(await api.writeKubeconfig(dir, 'ns'));
    api.setLease('ns', 'rollout');
  });
  after(async () => {
    await api.close();
    await cleanup();
  });

  it('one of two racing sidecars takes the Lease; the other gets LeaseConflict', async () => {
    const [a, b] = [store(), store()];
    await Promise.all([a.read(), b.read()]);
    await a.acquire('sha-1', 'pod-a');
    await assert.rejects(b.acquire('sha-1', 'pod-b'), LeaseConflict);
    const view = await b.read();
    assert.equal(view.holder, 'pod-a');
    assert.equal(view.expired, false);
    assert.equal(view.stateOf('sha-1'), 'baking');
  });

  it('renewals in a burst do not conflict with each other, and stop once the Lease is let go', async () => {
    const a = store();
    await a.read();
    await a.acquire('sha-2', 'pod-a');
    await Promise.all(Array.from({ length: 5 }, () => a.renew('pod-a')));
    await a.finish('sha-2', 'pod-a', 'promoted', 'clean');
    await a.renew('pod-a'); // after finish: nothing, no error
    const view = await store().read();
    assert.equal(view.holder, undefined);
    assert.equal(view.stateOf('sha-2'), 'promoted');
  });

  it('never turns a rollback into a promotion, whoever asks', async () => {
    const [a, b] = [store(), store()];
    await a.read();
    await a.acquire('sha-3', 'pod-a');
    await a.finish('sha-3', 'pod-a', 'rolled-back', '5xx ratio rose');
    await b.read();
    await assert.rejects(b.finish('sha-3', 'pod-b', 'promoted', 'clean'), RolledBackElsewhere);
    assert.equal((await store().read()).stateOf('sha-3'), 'rolled-back');
  });
});

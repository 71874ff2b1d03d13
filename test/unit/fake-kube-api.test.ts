import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  V1MicroTime,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { V1Lease } from '@kubernetes/client-node';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi } from '../fake-kube-api.ts';
import { tmpDir } from '../helpers.ts';

const NS = 'rp-test';

/**
 * How client-node 2.x reports a failed call (what the sidecar will rely on): the generated API
 * classes throw `ApiException` (exported by '@kubernetes/client-node') with
 *   - `code`: the HTTP status as a number (409, 404, 403, ...);
 *   - `body`: the response body as the raw *string* the server sent (not parsed), i.e. a JSON
 *     Kubernetes Status: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
 *     "message":"...","reason":"Conflict"|"AlreadyExists"|"NotFound"|"Forbidden"|...,
 *     "details":{"name":...,"group":...,"kind":...},"code":409};
 *   - `headers`: the response headers as a plain object.
 * So: `err instanceof ApiException && err.code === 409` and, to tell a stale update (reason
 * "Conflict") from a create that lost the race (reason "AlreadyExists"),
 * `JSON.parse(err.body).reason`. (401 is special: its `body` is undefined.)
 */
async function rejection(promise: Promise<unknown>): Promise<ApiException<string>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiException, `an ApiException, got ${String(error)}`);
    return error as ApiException<string>;
  }
  assert.fail('the call succeeded');
}
const statusOf = (error: ApiException<string>) =>
  JSON.parse(error.body) as { kind: string; reason: string; code: number; message: string };

describe('fake Kubernetes API, driven by the real client library', () => {
  let api: FakeKubeApi;
  let coordination: CoordinationV1Api;
  let core: CoreV1Api;
  let kubeConfig: KubeConfig;
  let cleanup: () => Promise<void>;

  before(async () => {
    api = await startFakeKubeApi();
    const dir = await tmpDir();
    cleanup = dir.cleanup;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(await api.writeKubeconfig(dir.dir, NS));
    coordination = kubeConfig.makeApiClient(CoordinationV1Api);
    core = kubeConfig.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await api.close();
    await cleanup();
  });

  it('creates, reads and replaces a Lease; MicroTime round-trips with six digits', async () => {
    const acquired = new V1MicroTime('2026-12-01T12:00:00.123Z');
    const created = await coordination.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: 'rp-rollout', annotations: { 'rp/revision': 'abc' } },
        spec: {
          holderIdentity: 'pod-a',
          leaseDurationSeconds: 15,
          acquireTime: acquired,
          renewTime: acquired,
          leaseTransitions: 0,
        },
      },
    });
    assert.equal(created.apiVersion, 'coordination.k8s.io/v1');
    assert.equal(created.kind, 'Lease');
    assert.equal(created.metadata?.namespace, NS);
    assert.match(created.metadata?.uid ?? '', /./);
    assert.deepEqual(created.metadata?.annotations, { 'rp/revision': 'abc' });
    // client-node 2.0.1 does NOT turn MicroTime fields back into Dates: V1MicroTime is not in
    // its ObjectSerializer type map, so acquireTime/renewTime come back as the server's string
    // (RFC 3339, six fractional digits, UTC). metav1.Time fields such as creationTimestamp do
    // come back as Dates.
    assert.equal(typeof created.spec?.renewTime, 'string');
    assert.equal(created.spec?.renewTime as unknown, '2026-12-01T12:00:00.123000Z');
    assert.ok(created.metadata?.creationTimestamp instanceof Date);
    assert.equal(new Date(created.spec?.renewTime ?? 0).getTime(), acquired.getTime());
    // The stored object, as the server keeps it.
    assert.deepEqual(api.getLease(NS, 'rp-rollout')?.spec, {
      holderIdentity: 'pod-a',
      leaseDurationSeconds: 15,
      acquireTime: '2026-12-01T12:00:00.123000Z',
      renewTime: '2026-12-01T12:00:00.123000Z',
      leaseTransitions: 0,
    });

    const read = await coordination.readNamespacedLease({ name: 'rp-rollout', namespace: NS });
    assert.equal(read.metadata?.resourceVersion, created.metadata?.resourceVersion);
    assert.equal(read.spec?.holderIdentity, 'pod-a');
    assert.equal(read.spec?.leaseDurationSeconds, 15);

    // Renew: what the sidecar will do, passing the read object back with a new renewTime.
    const renewed = new V1MicroTime('2026-12-01T12:00:05.456Z');
    const replaced = await coordination.replaceNamespacedLease({
      name: 'rp-rollout',
      namespace: NS,
      body: { ...read, spec: { ...read.spec, renewTime: renewed } },
    });
    assert.notEqual(replaced.metadata?.resourceVersion, read.metadata?.resourceVersion);
    assert.equal(replaced.metadata?.uid, created.metadata?.uid);
    assert.equal(new Date(replaced.spec?.renewTime ?? 0).getTime(), renewed.getTime());
    // The string read back (not re-wrapped in V1MicroTime) is sent again verbatim and accepted.
    assert.equal(replaced.spec?.acquireTime as unknown, '2026-12-01T12:00:00.123000Z');
    assert.deepEqual(replaced.metadata?.annotations, { 'rp/revision': 'abc' });
  });

  it('refuses a plain Date in a MicroTime field with 400, as a real API server does', async () => {
    // A Date serialises through toISOString() with three digits; Go's RFC3339Micro wants six.
    api.setLease(NS, 'plain-date', { holderIdentity: 'pod-a' });
    const error = await rejection(
      coordination.replaceNamespacedLease({
        name: 'plain-date',
        namespace: NS,
        body: {
          metadata: { name: 'plain-date' },
          spec: { holderIdentity: 'pod-b', renewTime: new Date('2026-12-01T12:00:00Z') },
        },
      }),
    );
    assert.equal(error.code, 400);
    assert.equal(statusOf(error).reason, 'BadRequest');
    assert.match(statusOf(error).message, /cannot be handled as a Lease: parsing time/);
  });

  it('a stale replace gets 409 Conflict; the fresh one then succeeds', async () => {
    const pre = api.setLease(
      NS,
      'contended',
      { holderIdentity: 'pod-a', leaseDurationSeconds: 15, renewTime: new Date() },
      { 'rp/state': 'baking' },
    );
    const mine = await coordination.readNamespacedLease({ name: 'contended', namespace: NS });
    assert.equal(mine.metadata?.resourceVersion, pre.metadata.resourceVersion);
    // Another sidecar wins the race.
    const other = await coordination.replaceNamespacedLease({
      name: 'contended',
      namespace: NS,
      body: { ...mine, spec: { ...mine.spec, holderIdentity: 'pod-b' } },
    });
    const error = await rejection(
      coordination.replaceNamespacedLease({
        name: 'contended',
        namespace: NS,
        body: { ...mine, spec: { ...mine.spec, holderIdentity: 'pod-c' } },
      }),
    );
    assert.equal(error.code, 409);
    assert.equal(typeof error.body, 'string');
    assert.deepEqual(JSON.parse(error.body), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Operation cannot be fulfilled on leases.coordination.k8s.io "contended": the object ' +
        'has been modified; please apply your changes to the latest version and try again',
      reason: 'Conflict',
      details: { name: 'contended', group: 'coordination.k8s.io', kind: 'leases' },
      code: 409,
    });
    assert.equal(api.getLease(NS, 'contended')?.spec.holderIdentity, 'pod-b');
    const again = await coordination.replaceNamespacedLease({
      name: 'contended',
      namespace: NS,
      body: { ...other, spec: { ...other.spec, holderIdentity: 'pod-c' } },
    });
    assert.equal(again.spec?.holderIdentity, 'pod-c');
    assert.deepEqual(again.metadata?.annotations, { 'rp/state': 'baking' });
    const updates = api.requests.filter((r) => r.verb === 'update' && r.name === 'contended');
    assert.deepEqual(
      updates.map((r) => r.status),
      [200, 409, 200],
    );
  });

  it('404 NotFound for an absent Lease, 409 AlreadyExists for a second create', async () => {
    const missing = await rejection(
      coordination.readNamespacedLease({ name: 'absent', namespace: NS }),
    );
    assert.equal(missing.code, 404);
    assert.equal(statusOf(missing).reason, 'NotFound');
    assert.equal(statusOf(missing).message, 'leases.coordination.k8s.io "absent" not found');

    api.setLease(NS, 'exists');
    const twice = await rejection(
      coordination.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'exists' } } }),
    );
    assert.equal(twice.code, 409);
    assert.equal(statusOf(twice).reason, 'AlreadyExists');
  });

  it('merge-patches a Lease, with resourceVersion as a precondition', async () => {
    const pre = api.setLease(NS, 'patched', { holderIdentity: 'pod-a', leaseTransitions: 1 });
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const patched = (await coordination.patchNamespacedLease(
      {
        name: 'patched',
        namespace: NS,
        body: { spec: { holderIdentity: 'pod-b', leaseTransitions: 2 } },
      },
      options,
    )) as V1Lease;
    assert.equal(patched.spec?.holderIdentity, 'pod-b');
    assert.equal(patched.spec?.leaseTransitions, 2);
    const stale = await rejection(
      coordination.patchNamespacedLease(
        {
          name: 'patched',
          namespace: NS,
          body: {
            metadata: { resourceVersion: pre.metadata.resourceVersion },
            spec: { holderIdentity: 'pod-c' },
          },
        },
        options,
      ),
    );
    assert.equal(stale.code, 409);
    assert.equal(statusOf(stale).reason, 'Conflict');
  });

  it('Lease update rules of the real server: 422 without resourceVersion, PUT creates', async () => {
    api.setLease(NS, 'strict', { holderIdentity: 'pod-a' });
    const unconditional = await rejection(
      coordination.replaceNamespacedLease({
        name: 'strict',
        namespace: NS,
        body: { metadata: { name: 'strict' }, spec: { holderIdentity: 'pod-b' } },
      }),
    );
    assert.equal(unconditional.code, 422);
    assert.equal(statusOf(unconditional).reason, 'Invalid');
    assert.match(statusOf(unconditional).message, /metadata\.resourceVersion: .*must be specified/);

    const put = await coordination.replaceNamespacedLease({
      name: 'put-created',
      namespace: NS,
      body: { metadata: { name: 'put-created' }, spec: { holderIdentity: 'pod-a' } },
    });
    assert.equal(put.spec?.holderIdentity, 'pod-a');
    assert.equal(api.requests.at(-1)?.status, 201);

    const zero = await rejection(
      coordination.createNamespacedLease({
        namespace: NS,
        body: { metadata: { name: 'zero' }, spec: { leaseDurationSeconds: 0 } },
      }),
    );
    assert.equal(zero.code, 422);
    assert.match(statusOf(zero).message, /spec\.leaseDurationSeconds: Invalid value: 0/);

    // A MicroTime with an offset is stored and returned in UTC, microseconds kept.
    const lease = api.setLease(NS, 'offset', { renewTime: '2026-12-01T13:00:00.123456+01:00' });
    assert.equal(lease.spec.renewTime, '2026-12-01T12:00:00.123456Z');
    assert.throws(() => api.setLease(NS, 'offset', { renewTime: '2026-12-01T12:00:00Z' }));
  });

  it("JSON patch (client-node's default patch type), with a resourceVersion test", async () => {
    const pre = api.setLease(NS, 'json-patched', { holderIdentity: 'pod-a' });
    const patched = (await coordination.patchNamespacedLease({
      name: 'json-patched',
      namespace: NS,
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: pre.metadata.resourceVersion },
        { op: 'replace', path: '/spec/holderIdentity', value: 'pod-b' },
      ],
    })) as V1Lease;
    assert.equal(patched.spec?.holderIdentity, 'pod-b');
    assert.equal(api.requests.at(-1)?.verb, 'patch');
    const stale = await rejection(
      coordination.patchNamespacedLease({
        name: 'json-patched',
        namespace: NS,
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: pre.metadata.resourceVersion },
          { op: 'replace', path: '/spec/holderIdentity', value: 'pod-c' },
        ],
      }),
    );
    assert.equal(stale.code, 422);
    assert.equal(api.getLease(NS, 'json-patched')?.spec.holderIdentity, 'pod-b');
  });

  it('forbid() answers 403 to the next get or update, and requests record the verbs', async () => {
    api.setLease(NS, 'guarded');
    api.forbid('get', 1, 'leases');
    const denied = await rejection(
      coordination.readNamespacedLease({ name: 'guarded', namespace: NS }),
    );
    assert.equal(denied.code, 403);
    assert.equal(statusOf(denied).reason, 'Forbidden');
    assert.match(
      statusOf(denied).message,
      /^leases\.coordination\.k8s\.io "guarded" is forbidden: .* cannot get resource "leases" in API group "coordination\.k8s\.io"/,
    );
    const lease = await coordination.readNamespacedLease({ name: 'guarded', namespace: NS });
    api.forbid('update', 1);
    const refused = await rejection(
      coordination.replaceNamespacedLease({ name: 'guarded', namespace: NS, body: lease }),
    );
    assert.equal(refused.code, 403);
    await coordination.replaceNamespacedLease({ name: 'guarded', namespace: NS, body: lease });
    const seen = api.requests
      .filter((r) => r.name === 'guarded')
      .map((r) => `${r.verb} ${r.resource ?? ''} ${r.status}`);
    assert.deepEqual(seen, [
      'get leases 403',
      'get leases 200',
      'update leases 403',
      'update leases 200',
    ]);
  });

  it('ConfigMaps by name: create, get and replace with annotations, 409 when stale', async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: { name: 'rp-last-good', annotations: { 'rp/sha256': 'aaa' } },
        data: { 'proxy.yaml': 'sites: []\n' },
      },
    });
    assert.equal(created.kind, 'ConfigMap');
    const read = await core.readNamespacedConfigMap({ name: 'rp-last-good', namespace: NS });
    assert.deepEqual(read.metadata?.annotations, { 'rp/sha256': 'aaa' });
    assert.deepEqual(read.data, { 'proxy.yaml': 'sites: []\n' });

    const replaced = await core.replaceNamespacedConfigMap({
      name: 'rp-last-good',
      namespace: NS,
      body: {
        ...read,
        metadata: { ...read.metadata, annotations: { 'rp/sha256': 'bbb' } },
        data: { 'proxy.yaml': 'sites: [b]\n' },
      },
    });
    assert.deepEqual(replaced.metadata?.annotations, { 'rp/sha256': 'bbb' });
    assert.deepEqual(api.getConfigMap(NS, 'rp-last-good')?.data, {
      'proxy.yaml': 'sites: [b]\n',
    });
    assert.equal(
      api.getConfigMap(NS, 'rp-last-good')?.metadata.resourceVersion,
      replaced.metadata?.resourceVersion,
    );

    const stale = await rejection(
      core.replaceNamespacedConfigMap({ name: 'rp-last-good', namespace: NS, body: read }),
    );
    assert.equal(stale.code, 409);
    assert.equal(statusOf(stale).reason, 'Conflict');
    assert.match(statusOf(stale).message, /^Operation cannot be fulfilled on configmaps /);

    // Unlike a Lease, a ConfigMap may be replaced without a resourceVersion (unconditionally),
    // and a PUT does not create one.
    const blind = await core.replaceNamespacedConfigMap({
      name: 'rp-last-good',
      namespace: NS,
      body: { metadata: { name: 'rp-last-good' }, data: { 'proxy.yaml': 'sites: [b]\n' } },
    });
    assert.notEqual(blind.metadata?.resourceVersion, replaced.metadata?.resourceVersion);
    assert.equal(blind.metadata?.annotations, undefined, 'a full replacement drops them');
    const absent = await rejection(
      core.replaceNamespacedConfigMap({
        name: 'not-there',
        namespace: NS,
        body: { metadata: { name: 'not-there' }, data: {} },
      }),
    );
    assert.equal(absent.code, 404);
    const missing = await rejection(
      core.readNamespacedConfigMap({ name: 'nothing', namespace: NS }),
    );
    assert.equal(missing.code, 404);
    assert.equal(statusOf(missing).message, 'configmaps "nothing" not found');

    // setConfigMap keeps annotations unless given new ones.
    api.setConfigMap(NS, 'rp-last-good', { 'proxy.yaml': 'sites: [c]\n' }, { 'rp/sha256': 'ccc' });
    api.setConfigMap(NS, 'rp-last-good', { 'proxy.yaml': 'sites: [d]\n' });
    assert.deepEqual(api.getConfigMap(NS, 'rp-last-good')?.metadata.annotations, {
      'rp/sha256': 'ccc',
    });
  });

  it('a ConfigMap created or replaced through the API shows up on an open watch', async () => {
    const seen: { type: string; rv: string; data: unknown }[] = [];
    let wake = () => {};
    const watch = new Watch(kubeConfig);
    const controller = await watch.watch(
      `/api/v1/namespaces/${NS}/configmaps`,
      { fieldSelector: 'metadata.name=watched' },
      (type, object: { metadata: { resourceVersion: string }; data: unknown }) => {
        seen.push({ type, rv: object.metadata.resourceVersion, data: object.data });
        wake();
      },
      () => {},
    );
    const until = async (n: number) => {
      while (seen.length < n) await new Promise<void>((resolve) => (wake = resolve));
    };
    try {
      const created = await core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: 'watched' }, data: { k: '1' } },
      });
      await until(1);
      const replaced = await core.replaceNamespacedConfigMap({
        name: 'watched',
        namespace: NS,
        body: { ...created, data: { k: '2' } },
      });
      await until(2);
      // A no-op replace writes nothing: same resourceVersion, no event.
      const same = await core.replaceNamespacedConfigMap({
        name: 'watched',
        namespace: NS,
        body: replaced,
      });
      assert.equal(same.metadata?.resourceVersion, replaced.metadata?.resourceVersion);
      api.setConfigMap(NS, 'watched', { k: '3' });
      await until(3);
      assert.deepEqual(seen, [
        { type: 'ADDED', rv: created.metadata?.resourceVersion, data: { k: '1' } },
        { type: 'MODIFIED', rv: replaced.metadata?.resourceVersion, data: { k: '2' } },
        {
          type: 'MODIFIED',
          rv: api.getConfigMap(NS, 'watched')?.metadata.resourceVersion,
          data: { k: '3' },
        },
      ]);
    } finally {
      controller.abort();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiException, DiscoveryV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi } from '../fake-kube-api.ts';
import { tmpDir } from '../helpers.ts';

const NS = 'rp-test';
const PATH = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`;
const slice = (service: string, address: string) => ({
  service,
  endpoints: [{ addresses: [address], conditions: { ready: true } }],
  ports: [{ name: 'http', port: 8080 }],
});

describe('fake Kubernetes API: EndpointSlices through client-node', () => {
  let api: FakeKubeApi;
  let kubeConfig: KubeConfig;
  let discovery: DiscoveryV1Api;
  let cleanup: () => Promise<void>;

  before(async () => {
    api = await startFakeKubeApi();
    const dir = await tmpDir('rp-fake-slices-');
    cleanup = dir.cleanup;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(await api.writeKubeconfig(dir.dir, NS));
    discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
    api.setEndpointSlice(NS, 'users-1', slice('users', '10.0.0.1'));
    api.setEndpointSlice(NS, 'orders-1', slice('orders', '10.0.0.2'));
    api.setEndpointSlice(NS, 'other-1', slice('other', '10.0.0.3'));
    api.setEndpointSlice('elsewhere', 'users-1', slice('users', '10.9.0.1'));
  });
  after(async () => {
    await api.close();
    await cleanup();
  });

  it('lists by equality and set-based label selectors, in the namespace only', async () => {
    const names = async (labelSelector: string) =>
      (await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector })).items
        .map((s) => s.metadata?.name)
        .sort();
    assert.deepEqual(await names('kubernetes.io/service-name=users'), ['users-1']);
    assert.deepEqual(await names('kubernetes.io/service-name in (orders,users)'), [
      'orders-1',
      'users-1',
    ]);
    const list = await discovery.listNamespacedEndpointSlice({ namespace: NS });
    assert.equal(list.items.length, 3);
    assert.equal(list.items[0]?.addressType, 'IPv4');
    assert.ok(Number(list.metadata?.resourceVersion) > 0);
  });

  it('watches from a version: adds, updates and deletes of the selected Services only', async () => {
    const list = await discovery.listNamespacedEndpointSlice({ namespace: NS });
    const seen: string[] = [];
    const request = await new Watch(kubeConfig).watch(
      PATH,
      {
        resourceVersion: list.metadata?.resourceVersion,
        labelSelector: 'kubernetes.io/service-name in (users)',
      },
      (type, object: { metadata: { name: string } }) =>
        seen.push(`${type} ${object.metadata.name}`),
      () => undefined,
    );
    api.setEndpointSlice(NS, 'users-2', slice('users', '10.0.1.1'));
    api.setEndpointSlice(NS, 'orders-1', slice('orders', '10.0.1.2'));
    api.setEndpointSlice(NS, 'users-2', slice('users', '10.0.1.3'));
    api.deleteEndpointSlice(NS, 'users-2');
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    request.abort();
    assert.deepEqual(seen, ['ADDED users-2', 'MODIFIED users-2', 'DELETED users-2']);
  });

  it('sends DELETED to a watch a slice is relabelled out of, ADDED to one it enters', async () => {
    const list = await discovery.listNamespacedEndpointSlice({ namespace: NS });
    const seen: string[] = [];
    const request = await new Watch(kubeConfig).watch(
      PATH,
      {
        resourceVersion: list.metadata?.resourceVersion,
        labelSelector: 'kubernetes.io/service-name=users',
      },
      (type, object: { metadata: { name: string; labels: Record<string, string> } }) =>
        seen.push(
          `${type} ${object.metadata.name} ${object.metadata.labels['kubernetes.io/service-name']}`,
        ),
      () => undefined,
    );
    api.setEndpointSlice(NS, 'users-1', slice('moved', '10.0.0.1'));
    api.setEndpointSlice(NS, 'users-1', slice('users', '10.0.0.1'));
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    request.abort();
    assert.deepEqual(seen, ['DELETED users-1 users', 'ADDED users-1 users']);
  });

  it('writes the shapes the real server writes: null lists, {} conditions, unnamed ports', async () => {
    api.setEndpointSlice(NS, 'zero-1', { service: 'zero', endpoints: [], ports: [] });
    api.setEndpointSlice(NS, 'bare-1', {
      service: 'bare',
      endpoints: [{ addresses: ['10.0.0.5'] }],
      ports: [{ port: 8080 }],
    });
    const raw = async (service: string) => {
      const reply = await fetch(
        `${api.url}${PATH}?labelSelector=kubernetes.io/service-name%3D${service}`,
        { headers: { authorization: `Bearer ${api.token}` } },
      );
      return ((await reply.json()) as { items: Record<string, unknown>[] }).items[0];
    };
    const zero = await raw('zero');
    assert.equal(zero?.endpoints, null);
    assert.equal(zero?.ports, null);
    const bare = await raw('bare');
    assert.deepEqual(bare?.endpoints, [{ addresses: ['10.0.0.5'], conditions: {} }]);
    assert.deepEqual(bare?.ports, [{ port: 8080, name: '', protocol: 'TCP' }]);
  });

  it('answers 410 Gone after compact() and 403 while forbidden', async () => {
    const list = await discovery.listNamespacedEndpointSlice({ namespace: NS });
    api.compact();
    const ended = await new Promise<{ type: string; code?: number }>((resolve) => {
      void new Watch(kubeConfig).watch(
        PATH,
        { resourceVersion: list.metadata?.resourceVersion },
        (type, object: { code?: number }) => resolve({ type, code: object.code }),
        () => undefined,
      );
    });
    assert.deepEqual(ended, { type: 'ERROR', code: 410 });
    api.forbid('list', 1, 'endpointslices');
    await assert.rejects(discovery.listNamespacedEndpointSlice({ namespace: NS }), (err) => {
      assert.ok(err instanceof ApiException);
      assert.equal(err.code, 403);
      const status = JSON.parse(String(err.body)) as { message: string };
      assert.match(
        status.message,
        /cannot list resource "endpointslices" in API group "discovery.k8s.io"/,
      );
      return true;
    });
    await discovery.listNamespacedEndpointSlice({ namespace: NS });
  });

  it('refuses a selector the API server would refuse', async () => {
    await assert.rejects(
      discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'a in b' }),
      (err) => err instanceof ApiException && err.code === 400,
    );
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tmpDir } from '../helpers.ts';
import { findKind, render } from './manifests.ts';
import type { K8sObject } from './manifests.ts';

const ENDPOINTS_FLAG = '--endpoints-file=/run/reverse-proxy/private/endpoints.json';
const SLICE_RULE = {
  apiGroups: ['discovery.k8s.io'],
  resources: ['endpointslices'],
  verbs: ['list', 'watch'],
};

const serviceSite = {
  name: 'api',
  hosts: ['api.example.com'],
  routes: [{ path: '/', upstreams: [{ service: 'users', port: 'http', weight: 2 }] }],
};

/** Renders with these values (JSON file), at Kubernetes 1.30 (native sidecar) or 1.28. */
async function renderWith(values: unknown, kubeVersion = '1.30.0'): Promise<K8sObject[]> {
  const { dir, cleanup } = await tmpDir('rp-chart-endpoints-');
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    return render(['-f', file], kubeVersion);
  } finally {
    await cleanup();
  }
}

function parts(objects: K8sObject[]) {
  const [role] = findKind(objects, 'Role');
  const pod = findKind(objects, 'Deployment')[0]?.spec.template.spec;
  const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])] as {
    name: string;
    args?: string[];
  }[];
  const args = (name: string) => containers.find((c) => c.name === name)?.args ?? [];
  return { rules: (role?.rules ?? []) as unknown[], args };
}

describe('helm chart: EndpointSlices for service: upstreams', () => {
  it('renders nothing for them by default: the Role and the args stay as they were', async () => {
    const { rules, args } = parts(await renderWith({}));
    assert.ok(!rules.some((r) => JSON.stringify(r).includes('endpointslices')));
    assert.ok(!args('admin').some((a) => a.startsWith('--endpoints-file')));
    assert.ok(!args('proxy').some((a) => a.startsWith('--endpoints-file')));
  });

  it('grows the Role by list and watch on endpointslices, and passes the file to both containers, when the config names a service', async () => {
    const objects = await renderWith({ config: { sites: [serviceSite] } });
    const { rules, args } = parts(objects);
    assert.deepEqual(
      rules.filter((r) => JSON.stringify(r).includes('endpointslices')),
      [SLICE_RULE],
      'no resourceNames (a list cannot carry them), no get, nothing more',
    );
    assert.ok(args('admin').includes(ENDPOINTS_FLAG));
    assert.ok(args('proxy').includes(ENDPOINTS_FLAG));
    // The file sits beside the admin socket, in the 0700 directory both containers share.
    const socket = args('admin').find((a) => a.startsWith('--socket='));
    assert.equal(socket, '--socket=/run/reverse-proxy/private/admin.sock');
    assert.deepEqual(findKind(objects, 'ClusterRole'), [], 'nothing cluster-wide');
    assert.deepEqual(findKind(objects, 'ClusterRoleBinding'), []);
  });

  it('validates the seeded config with the endpoint source before native sidecars (Kubernetes 1.28)', async () => {
    const objects = await renderWith({ config: { sites: [serviceSite] } }, '1.28.0');
    const pod = findKind(objects, 'Deployment')[0]?.spec.template.spec;
    const seed = (pod?.initContainers ?? []).find(
      (c: { name: string }) => c.name === 'seed-config',
    );
    assert.match(
      String(seed?.args?.[0]),
      /validate .* --endpoints-file \/run\/reverse-proxy\/private\/endpoints\.json &&/,
    );
  });

  it('follows sidecar.endpointSlices: true and false override the detection', async () => {
    const forced = parts(await renderWith({ sidecar: { endpointSlices: true } }));
    assert.ok(forced.rules.some((r) => JSON.stringify(r) === JSON.stringify(SLICE_RULE)));
    const off = parts(
      await renderWith({ sidecar: { endpointSlices: false }, config: { sites: [serviceSite] } }),
    );
    assert.ok(!off.rules.some((r) => JSON.stringify(r).includes('endpointslices')));
    await assert.rejects(renderWith({ sidecar: { endpointSlices: 'yes' } }), /endpointSlices/);
  });

  it('refuses service: upstreams in volume mode, which has no API to watch', async () => {
    await assert.rejects(
      renderWith({ sidecar: { mode: 'volume' }, config: { sites: [serviceSite] } }),
      /service: upstreams need sidecar.mode api/,
    );
  });
});

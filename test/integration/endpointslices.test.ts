import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi, SliceEndpoint } from '../fake-kube-api.ts';
import { request, sha256Hex, startUpstream, tmpDir } from '../helpers.ts';
import type { Upstream } from '../helpers.ts';
import { startPair } from '../rollout-pair.ts';
import type { Pair } from '../rollout-pair.ts';
import { eventually } from '../sidecar-process.ts';

const NS = 'rp-test';
const CM = 'proxy-config';

/**
 * Issue 22 end to end: the fake API's EndpointSlices, a real sidecar watching them, a real
 * proxy serving them, real upstreams (one pod each, one slice each, all on 127.0.0.1 with
 * their own port). What the issue asks of the whole: traffic spreads over ready endpoints,
 * churn drops no request and is never a config revision, an empty Service answers 503 and
 * recovers, a missing port is reported, and real config changes still bake.
 */
describe('EndpointSlices through the sidecar to the proxy', () => {
  let api: FakeKubeApi;
  let pair: Pair;
  let cleanup: () => Promise<void>;
  const pods = new Map<string, Upstream>();

  const config = (extra = '') => `listeners:
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
        upstreams: [{ service: web, port: http }]
        retries: { attempts: 0 }
      - path: /empty/
        upstreams: [{ service: empty, port: http }]
      - path: /grpc/
        upstreams: [{ service: web, port: grpc }]
${extra}`;
  const publish = (text: string) => api.setConfigMap(NS, CM, { 'proxy.yaml': text });
  const conditions = (state: 'ready' | 'not-ready' | 'terminating'): SliceEndpoint['conditions'] =>
    state === 'ready'
      ? { ready: true, serving: true, terminating: false }
      : state === 'terminating'
        ? { ready: false, serving: true, terminating: true }
        : { ready: false, serving: false, terminating: false };
  /** A pod: an upstream of its own and a slice of its own for Service `web`. */
  const setPod = async (name: string, state: 'ready' | 'not-ready' | 'terminating') => {
    let pod = pods.get(name);
    if (pod === undefined) {
      pod = await startUpstream(name);
      pods.set(name, pod);
    }
    api.setEndpointSlice(NS, `web-${name}`, {
      service: 'web',
      endpoints: [{ addresses: ['127.0.0.1'], conditions: conditions(state) }],
      ports: [{ name: 'http', port: pod.port }],
    });
  };
  const get = async (path = '/') => {
    const reply = await request(`${pair.proxy.url}${path}`, { host: 'any.example' });
    return reply.status === 200 ? (reply.body.split(' ')[0] ?? '') : String(reply.status);
  };
  const servedBy = async (n: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(await get());
    return [...seen].sort().join(' ');
  };
  const configEvents = () =>
    api.events.filter((e) => ['ConfigApplied', 'ConfigBaking', 'ConfigPromoted'].includes(e.reason))
      .length;
  const bakes = () => pair.sidecar.logs.filter((l) => l.msg === 'baking the new config').length;

  before(async () => {
    api = await startFakeKubeApi();
    let dir: string;
    ({ dir, cleanup } = await tmpDir('rp-slices-'));
    await setPod('a', 'ready');
    await setPod('b', 'ready');
    await setPod('c', 'not-ready');
    publish(config());
    const kubeconfig = await api.writeKubeconfig(dir, NS);
    pair = await startPair({
      pod: 'p1',
      sidecarArgs: [`--configmap=${CM}`, `--namespace=${NS}`, '--endpoints-debounce-ms=50'],
      env: { KUBECONFIG: kubeconfig },
      endpoints: true,
    });
    // The first config's own Event is posted asynchronously: let it land before anything counts.
    await eventually('the first ConfigApplied Event', () =>
      api.events.find((e) => e.reason === 'ConfigApplied'),
    );
  });

  after(async () => {
    await pair?.stop();
    for (const pod of pods.values()) await pod.close();
    await api?.close();
    await cleanup?.();
  });

  it('spreads traffic over the ready endpoints; a not-ready one gets none', async () => {
    await eventually('both ready pods serve', async () =>
      (await servedBy(20)) === 'a b' ? true : undefined,
    );
    assert.equal(await servedBy(40), 'a b');
  });

  it('an added endpoint gets traffic within 2 s, and a terminating one no new requests', async () => {
    await setPod('d', 'ready');
    await eventually(
      'd serves',
      async () => ((await servedBy(12)).includes('d') ? true : undefined),
      2_000,
    );
    await setPod('b', 'terminating');
    await eventually(
      'b no longer chosen',
      async () => ((await servedBy(12)) === 'a d' ? true : undefined),
      2_000,
    );
    assert.equal(await servedBy(40), 'a d');
  });

  it('a continuous client sees no failure while every endpoint is replaced, and churn is never a config revision', async () => {
    const eventsBefore = configEvents();
    const bakesBefore = bakes();
    const metrics = async () => (await fetch(`${pair.proxy.healthUrl}/metrics`)).text();
    const generationOf = (text: string) =>
      /^reverse_proxy_config_generation (\d+)/m.exec(text)?.[1];
    const generation = generationOf(await metrics());
    assert.ok(generation !== undefined);
    const results: string[] = [];
    let running = true;
    const clients = [0, 1, 2, 3].map(async () => {
      while (running) results.push(await get().catch((err: Error) => `error ${err.message}`));
    });
    const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
    // A rolling replacement: each new pod comes up ready, then an old one terminates and goes.
    for (const [next, old] of [
      ['e', 'a'],
      ['f', 'b'],
      ['g', 'c'],
      ['h', 'd'],
    ] as const) {
      await setPod(next, 'ready');
      await settle();
      await setPod(old, 'terminating');
      await settle();
      api.deleteEndpointSlice(NS, `web-${old}`);
      await settle();
    }
    await eventually('only new pods serve', async () =>
      (await servedBy(20)) === 'e f g h' ? true : undefined,
    );
    running = false;
    await Promise.all(clients);
    const failures = results.filter((r) => !/^[a-h]$/.test(r));
    assert.deepEqual(failures, [], `${failures.length} of ${results.length} requests failed`);
    assert.ok(results.length > 200, `only ${results.length} requests`);

    assert.equal(configEvents(), eventsBefore, 'no config Event for endpoint churn');
    assert.equal(bakes(), bakesBefore, 'no bake for endpoint churn');
    const status = await metrics();
    assert.equal(generationOf(status), generation, 'the config generation did not move');
    assert.match(status, /reverse_proxy_endpoint_updates_total\{outcome="applied"\} \d+/);
    assert.match(
      status,
      /reverse_proxy_service_endpoints\{service="web",port="http",condition="ready"\} 4/,
    );
  });

  it('a Service with no endpoints answers 503 no_endpoints and recovers by itself', async () => {
    const reply = await request(`${pair.proxy.url}/empty/x`, { host: 'any.example' });
    assert.equal(reply.status, 503);
    assert.match(reply.body, /"error":"no_endpoints"/);
    const pod = await startUpstream('z');
    pods.set('z', pod);
    api.setEndpointSlice(NS, 'empty-z', {
      service: 'empty',
      endpoints: [{ addresses: ['127.0.0.1'] }],
      ports: [{ name: 'http', port: pod.port }],
    });
    await eventually(
      'the empty Service serves',
      async () => ((await get('/empty/x')) === 'z' ? true : undefined),
      2_000,
    );
  });

  it('reports a port the config names but the slices do not have', async () => {
    assert.equal(await get('/grpc/'), '503');
    const event = await eventually('EndpointsProblem Event', () =>
      api.events.find((e) => e.reason === 'EndpointsProblem' && e.message.includes('"grpc"')),
    );
    assert.equal(event.type, 'Warning');
    assert.match(event.message, /web/);
    // Once while it lasts, though every pod of web was replaced since.
    const grpc = api.events.filter(
      (e) => e.reason === 'EndpointsProblem' && e.message.includes('"grpc"'),
    );
    assert.equal(grpc.length, 1);
  });

  it('the guarded rollout still bakes a real config change', async () => {
    const next = config('      - { path: /new/, upstreams: [{ service: web, port: http }] }\n');
    publish(next);
    await pair.sidecar.waitForLog(
      (l) => l.msg === 'baking the new config' && l.sha256 === sha256Hex(next),
      { includePast: true, timeoutMs: 20_000 },
    );
    await eventually('the new route serves', async () =>
      /^[e-h]$/.test(await get('/new/')) ? true : undefined,
    );
  });
});

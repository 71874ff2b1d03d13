import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKubeApi } from '../fake-kube-api.ts';
import type { FakeKubeApi, SliceEndpoint } from '../fake-kube-api.ts';
import { CLI, sha256Hex, tmpDir } from '../helpers.ts';
import { startRecordingAdmin } from '../recording-admin.ts';
import type { EndpointsFileShape, RecordedCommand, RecordingAdmin } from '../recording-admin.ts';
import { eventually, startSidecarProcess } from '../sidecar-process.ts';
import type { SidecarProcess } from '../sidecar-process.ts';

const NS = 'rp-test';
const CM = 'proxy-config';

const ready = (address: string): SliceEndpoint => ({
  addresses: [address],
  conditions: { ready: true, serving: true, terminating: false },
});

describe('sidecar --endpoints-file: EndpointSlices to the endpoints file and command', () => {
  let api: FakeKubeApi;
  let admin: RecordingAdmin;
  let sidecar: SidecarProcess;
  let metricsServer: http.Server;
  let dir: string;
  let cleanup: () => Promise<void>;
  let socket: string;
  let configOut: string;
  let endpointsFile: string;

  const configFor = (refs: [string, string | number][]) => `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ${socket}
health:
  address: 127.0.0.1:0
sites:
  - name: main
    hosts: ["*"]
    routes:
      - path: /
        upstreams:
${refs.map(([service, port]) => `          - service: ${service}\n            port: ${typeof port === 'string' ? JSON.stringify(port) : port}`).join('\n')}
`;
  const publish = (text: string) => api.setConfigMap(NS, CM, { 'proxy.yaml': text });
  const endpointCommands = () => admin.commands.filter((c) => c.command === 'endpoints');
  const lastFile = (): EndpointsFileShape | undefined => endpointCommands().at(-1)?.endpoints;
  const entry = (file: EndpointsFileShape | undefined, service: string) =>
    file?.services.find((s) => s.service === service);
  /** The addresses of `service` in the last file the proxy was told about. */
  const addresses = (service: string) =>
    entry(lastFile(), service)
      ?.endpoints.map(
        (e) =>
          `${e.address}:${e.port}${e.ready ? '' : e.terminating ? ' terminating' : ' not-ready'}`,
      )
      .join(' ');
  const reloadOf = (text: string) => (c: RecordedCommand) =>
    c.command === 'reload' && c.configSha === sha256Hex(text);

  before(async () => {
    api = await startFakeKubeApi();
    ({ dir, cleanup } = await tmpDir('rp-endpoints-'));
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o700 });
    socket = join(run, 'admin.sock');
    configOut = join(run, 'proxy.yaml');
    endpointsFile = join(run, 'endpoints.json');
    admin = await startRecordingAdmin(socket, configOut, endpointsFile);
    // The guard's figures: a proxy that served nothing yet (no route is ever judged).
    metricsServer = http.createServer((_req, res) => res.end(''));
    metricsServer.listen(0, '127.0.0.1');
    await once(metricsServer, 'listening');
    api.setEndpointSlice(NS, 'users-a', {
      service: 'users',
      endpoints: [
        ready('10.0.0.1'),
        { addresses: ['10.0.0.2'], conditions: { ready: false, serving: true, terminating: true } },
        { addresses: ['10.0.0.3'] },
      ],
      ports: [
        { name: 'http', port: 8080 },
        { name: 'metrics', port: 9090 },
      ],
    });
    api.setEndpointSlice(NS, 'orders-a', {
      service: 'orders',
      addressType: 'IPv6',
      endpoints: [ready('fd00::7')],
      ports: [{ name: 'web', port: 3000 }],
    });
    publish(configFor([['users', 'http']]));
    const kubeconfig = await api.writeKubeconfig(dir, NS);
    const { port } = metricsServer.address() as AddressInfo;
    sidecar = await startSidecarProcess(
      [
        `--socket=${socket}`,
        `--config-out=${configOut}`,
        `--configmap=${CM}`,
        `--namespace=${NS}`,
        `--endpoints-file=${endpointsFile}`,
        '--endpoints-debounce-ms=50',
        '--health-address=127.0.0.1:0',
        '--debounce-ms=50',
        '--stall-timeout-ms=5000',
        '--guard=on',
        '--bake-ms=300',
        '--baseline-ms=300',
        '--sample-ms=100',
        `--proxy-metrics=http://127.0.0.1:${port}/metrics`,
      ],
      { KUBECONFIG: kubeconfig },
    );
  });
  after(async () => {
    await sidecar?.stop();
    await admin?.close();
    await api?.close();
    metricsServer?.close();
    await cleanup?.();
  });

  it('writes the endpoints (0600, conditions as the API reads them) and sends them before the first reload', async () => {
    const text = configFor([['users', 'http']]);
    const reload = await eventually('first reload', () => admin.commands.find(reloadOf(text)));
    const first = endpointCommands()[0];
    assert.ok(first !== undefined && first.at <= reload.at, 'endpoints before the reload');
    assert.ok(admin.commands.indexOf(first) < admin.commands.indexOf(reload));
    assert.equal((await stat(endpointsFile)).mode & 0o777, 0o600);
    const file = first.endpoints;
    assert.equal(file?.kind, 'ReverseProxyEndpoints');
    assert.equal(file?.version, 1);
    assert.deepEqual(entry(file, 'users'), {
      service: 'users',
      port: 'http',
      resolved_port: 8080,
      problem: null,
      endpoints: [
        { address: '10.0.0.1', port: 8080, ready: true, serving: true, terminating: false },
        { address: '10.0.0.2', port: 8080, ready: false, serving: true, terminating: true },
        // No conditions at all: ready and serving, not terminating.
        { address: '10.0.0.3', port: 8080, ready: true, serving: true, terminating: false },
      ],
    });
    const lists = api.requests.filter((r) => r.resource === 'endpointslices' && r.verb === 'list');
    assert.equal(lists[0]?.query.labelSelector, 'kubernetes.io/service-name in (users)');
  });

  it('reflects an added, an updated and a deleted slice within 2 s, with no reload, bake or config Event', async () => {
    // The first config's own Event (ConfigApplied) is posted asynchronously: let it land.
    await eventually('ConfigApplied Event', () =>
      api.events.some((e) => e.reason === 'ConfigApplied') ? true : undefined,
    );
    const reloads = admin.commands.filter((c) => c.command === 'reload').length;
    const configEvents = () =>
      api.events.filter((e) =>
        ['ConfigApplied', 'ConfigBaking', 'ConfigPromoted'].includes(e.reason),
      ).length;
    const eventsBefore = configEvents();
    const bakesBefore = sidecar.logs.filter((l) => l.msg === 'baking the new config').length;

    api.setEndpointSlice(NS, 'users-b', {
      service: 'users',
      endpoints: [ready('10.0.1.1')],
      ports: [{ name: 'http', port: 8081 }],
    });
    await eventually(
      'added slice',
      () => (addresses('users')?.includes('10.0.1.1:8081') ? true : undefined),
      2_000,
    );
    api.setEndpointSlice(NS, 'users-b', {
      service: 'users',
      endpoints: [
        { addresses: ['10.0.1.1'], conditions: { ready: false, serving: true, terminating: true } },
      ],
      ports: [{ name: 'http', port: 8081 }],
    });
    await eventually(
      'updated slice',
      () => (addresses('users')?.includes('10.0.1.1:8081 terminating') ? true : undefined),
      2_000,
    );
    api.deleteEndpointSlice(NS, 'users-b');
    await eventually(
      'deleted slice',
      () => (addresses('users')?.includes('10.0.1.1') === false ? true : undefined),
      2_000,
    );

    assert.equal(admin.commands.filter((c) => c.command === 'reload').length, reloads);
    assert.equal(configEvents(), eventsBefore, 'endpoint churn posts no config Event');
    assert.equal(sidecar.logs.filter((l) => l.msg === 'baking the new config').length, bakesBefore);
    const metrics = await (await fetch(`${sidecar.healthUrl}/metrics`)).text();
    assert.match(
      metrics,
      /reverse_proxy_sidecar_service_endpoints\{service="users",port="http",condition="ready"\} 2/,
    );
    assert.match(metrics, /reverse_proxy_sidecar_endpoint_updates_total\{outcome="sent"\} \d+/);
  });

  it('restarts the selector for a newly named Service and sends its endpoints before the reload', async () => {
    const text = configFor([
      ['users', 'http'],
      ['orders', 'web'],
    ]);
    publish(text);
    const reload = await eventually('reload of the new config', () =>
      admin.commands.find(reloadOf(text)),
    );
    const sent = endpointCommands().find((c) => entry(c.endpoints, 'orders') !== undefined);
    assert.ok(sent !== undefined && admin.commands.indexOf(sent) < admin.commands.indexOf(reload));
    assert.deepEqual(entry(sent.endpoints, 'orders')?.endpoints, [
      { address: 'fd00::7', port: 3000, ready: true, serving: true, terminating: false },
    ]);
    // A real config change still goes through the guard: it bakes (endpoint changes never do).
    await sidecar.waitForLog(
      (l) => l.msg === 'baking the new config' && l.sha256 === sha256Hex(text),
      { includePast: true },
    );
    const selectors = api.requests
      .filter((r) => r.resource === 'endpointslices' && r.verb === 'list')
      .map((r) => r.query.labelSelector);
    assert.equal(selectors.at(-1), 'kubernetes.io/service-name in (orders,users)');
    // One watch at a time: the old selector's watch was closed.
    await eventually('one watch on slices', () => (api.openWatches() === 2 ? true : undefined));
  });

  it('re-lists after 410 Gone and keeps following changes', async () => {
    const lists = () =>
      api.requests.filter((r) => r.resource === 'endpointslices' && r.verb === 'list').length;
    const before = lists();
    api.compact();
    await eventually('a fresh list', () => (lists() > before ? true : undefined));
    api.setEndpointSlice(NS, 'orders-a', {
      service: 'orders',
      addressType: 'IPv6',
      endpoints: [ready('fd00::7'), ready('fd00::8')],
      ports: [{ name: 'web', port: 3000 }],
    });
    await eventually(
      'change after the relist',
      () => (addresses('orders')?.includes('fd00::8:3000') ? true : undefined),
      2_000,
    );
  });

  it('resumes after a dropped watch and a forbidden list, and keeps following changes', async () => {
    api.forbid('list', 1, 'endpointslices');
    api.compact(); // the resume needs a fresh list, which is refused once
    api.dropWatches();
    await sidecar.waitForLog((l) => l.code === 'ERR_KUBE_FORBIDDEN', { includePast: true });
    api.setEndpointSlice(NS, 'orders-a', {
      service: 'orders',
      addressType: 'IPv6',
      endpoints: [ready('fd00::9')],
      ports: [{ name: 'web', port: 3000 }],
    });
    // The forbidden list backs off about 1 s before the next one.
    await eventually(
      'change after the drop',
      () => (addresses('orders') === 'fd00::9:3000' ? true : undefined),
      4_000,
    );
  });

  it('reports a port the slices lack and a Service without slices: problem, warning, one Event each', async () => {
    const text = configFor([
      ['users', 'grpc'],
      ['ghost', 80],
    ]);
    publish(text);
    await eventually('reload', () => admin.commands.find(reloadOf(text)));
    const file = lastFile();
    assert.equal(
      entry(file, 'users')?.problem,
      'port "grpc" is not a port of Service "users" (its endpoints have: http 8080, metrics 9090)',
    );
    assert.equal(entry(file, 'users')?.resolved_port, null);
    assert.deepEqual(entry(file, 'users')?.endpoints, []);
    assert.equal(entry(file, 'ghost')?.problem, 'Service "ghost" has no EndpointSlices');
    const problems = () => api.events.filter((e) => e.reason === 'EndpointsProblem');
    await eventually('two Events', () => (problems().length === 2 ? true : undefined));
    for (const event of problems()) {
      assert.equal(event.type, 'Warning');
      assert.equal(event.involvedObject.name, CM);
    }
    const line = await sidecar.waitForLog(
      (l) => l.code === 'ERR_ENDPOINTS_PROBLEM' && l.service === 'users',
      {
        includePast: true,
      },
    );
    assert.equal(line.port, 'grpc');
    // Another update with the same problems: no new Event.
    api.setEndpointSlice(NS, 'users-a', {
      service: 'users',
      endpoints: [ready('10.0.0.1')],
      ports: [{ name: 'http', port: 8080 }],
    });
    await eventually('update seen', () =>
      endpointCommands().some(
        (c) => entry(c.endpoints, 'users')?.problem?.includes('metrics') === false,
      )
        ? true
        : undefined,
    );
    // The problem text changed (the port list did), so that one is new; ghost's is not.
    assert.equal(problems().filter((e) => e.message.includes('ghost')).length, 1);
  });
});

describe('sidecar --endpoints-file usage', () => {
  it('needs API mode', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>(
      (resolve) => {
        execFile(
          process.execPath,
          [
            CLI,
            'sidecar',
            '--socket=/tmp/x.sock',
            '--config-out=/tmp/x.yaml',
            '--watch-dir=/tmp',
            '--endpoints-file=/tmp/e.json',
          ],
          (err, _stdout, stderr) =>
            resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stderr }),
        );
      },
    );
    assert.equal(code, 2);
    assert.match(stderr, /--endpoints-file needs API mode/);
  });
});

/**
 * Issue 22's churn measurement: a real sidecar against the fake Kubernetes API, 50 Services of
 * 100 endpoints each (5,000), then UPDATES slice updates spread over DURATION_MS, each changing
 * one endpoint of one Service. Reports the sidecar's CPU time per slice update and per command
 * sent, and the time from each slice change to the first `endpoints` command whose file shows it.
 *
 *   node bench/sidecar-endpoints-churn.ts    (UPDATES=300 DURATION_MS=60000 by default)
 *
 * Needs `npm run build` (it spawns dist/cli.js). Loopback only, bounded by its two knobs.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeKubeApi } from '../test/fake-kube-api.ts';
import type { SliceEndpoint } from '../test/fake-kube-api.ts';
import { tmpDir } from '../test/helpers.ts';
import { startRecordingAdmin } from '../test/recording-admin.ts';
import { eventually, startSidecarProcess } from '../test/sidecar-process.ts';

const SERVICES = 50;
const PER_SERVICE = 100;
const UPDATES = Number(process.env.UPDATES ?? 300);
const DURATION_MS = Number(process.env.DURATION_MS ?? 60_000);
const NS = 'bench';

/** utime + stime of a process, in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const endpointsOf = (s: number, marker?: [number, string]): SliceEndpoint[] =>
  Array.from({ length: PER_SERVICE }, (_, i) => ({
    addresses: [marker?.[0] === i ? marker[1] : `10.${s}.${i >> 8}.${i & 255}`],
    conditions: { ready: true, serving: true, terminating: false },
  }));

const api = await startFakeKubeApi();
const { dir, cleanup } = await tmpDir('rp-churn-');
const run = join(dir, 'run');
await mkdir(run, { mode: 0o700 });
const socket = join(run, 'admin.sock');
const configOut = join(run, 'proxy.yaml');
const endpointsFile = join(run, 'endpoints.json');
const admin = await startRecordingAdmin(socket, configOut, endpointsFile);
const names = Array.from({ length: SERVICES }, (_, s) => `svc-${s}`);
for (const [s, name] of names.entries()) {
  api.setEndpointSlice(NS, `${name}-a`, {
    service: name,
    endpoints: endpointsOf(s),
    ports: [{ name: 'http', port: 8080 }],
  });
}
const config = `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ${socket}
health:
  address: 127.0.0.1:0
sites:
${names
  .map(
    (name) =>
      `  - name: ${name}\n    hosts: [${name}.example]\n    routes:\n      - path: /\n        upstreams:\n          - { service: ${name}, port: http }`,
  )
  .join('\n')}
`;
api.setConfigMap(NS, 'cfg', { 'proxy.yaml': config });
const sidecar = await startSidecarProcess(
  [
    `--socket=${socket}`,
    `--config-out=${configOut}`,
    '--configmap=cfg',
    `--namespace=${NS}`,
    `--endpoints-file=${endpointsFile}`,
    '--health-address=127.0.0.1:0',
    '--guard=off',
  ],
  { KUBECONFIG: await api.writeKubeconfig(dir, NS) },
);
const pid = sidecar.child.pid as number;
await eventually('first reload', () => admin.commands.find((c) => c.command === 'reload'), 30_000);
const startCommands = admin.commands.filter((c) => c.command === 'endpoints').length;
const first = admin.commands.find((c) => c.command === 'endpoints');
const total = first?.endpoints?.services.reduce((n, s) => n + s.endpoints.length, 0);
await new Promise((resolve) => setTimeout(resolve, 1_000));

const changes: { at: number; service: string; address: string }[] = [];
const cpuBefore = cpuMs(pid);
const started = Date.now();
for (let u = 0; u < UPDATES; u++) {
  const due = started + (u * DURATION_MS) / UPDATES;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
  const s = u % SERVICES;
  const address = `10.200.${u >> 8}.${u & 255}`;
  changes.push({ at: Date.now(), service: names[s] as string, address });
  api.setEndpointSlice(NS, `${names[s]}-a`, {
    service: names[s] as string,
    endpoints: endpointsOf(s, [u % PER_SERVICE, address]),
    ports: [{ name: 'http', port: 8080 }],
  });
}
await new Promise((resolve) => setTimeout(resolve, 2_000));
const cpuAfter = cpuMs(pid);
const commands = admin.commands.filter((c) => c.command === 'endpoints').slice(startCommands);

const latencies = changes.map((change) => {
  const seen = commands.find(
    (c) =>
      c.at >= change.at &&
      c.endpoints?.services
        .find((s) => s.service === change.service)
        ?.endpoints.some((e) => e.address === change.address),
  );
  return seen === undefined ? Number.NaN : seen.at - change.at;
});
const sorted = latencies.filter((l) => !Number.isNaN(l)).sort((a, b) => a - b);
const pct = (p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const cpu = cpuAfter - cpuBefore;
console.log(
  JSON.stringify(
    {
      services: SERVICES,
      endpoints: total,
      slice_updates: UPDATES,
      duration_ms: Date.now() - started,
      commands_sent: commands.length,
      missed: latencies.length - sorted.length,
      sidecar_cpu_ms: cpu,
      cpu_ms_per_slice_update: +(cpu / UPDATES).toFixed(2),
      cpu_ms_per_command: +(cpu / Math.max(1, commands.length)).toFixed(2),
      latency_ms: { p50: pct(50), p90: pct(90), p99: pct(99), max: sorted.at(-1) },
    },
    null,
    2,
  ),
);
await sidecar.stop();
await admin.close();
await api.close();
await cleanup();

/**
 * The cost of endpoint updates (issue 22): a real proxy with 50 routes, each naming one Service,
 * a file of 5,000 endpoints (100 per Service), then 100 updates in a row, each replacing two
 * pods of every Service (100 addresses out, 100 in). Measured: the `endpoints` admin command's
 * round trip (read, check, apply in every worker, reply) and the apply time the proxy logs.
 *
 *   node bench/endpoints-churn.ts [--workers N]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sendAdminCommand } from '../src/admin/admin-client.ts';

const SERVICES = 50;
const PER_SERVICE = 100;
const UPDATES = 100;

const { values } = parseArgs({ options: { workers: { type: 'string', default: '1' } } });
const dir = await mkdtemp(join(tmpdir(), 'rp-ep-bench-'));
const socketPath = join(dir, 'run', 'admin.sock');
const endpointsPath = join(dir, 'endpoints.json');
const configPath = join(dir, 'proxy.yaml');

const routes = Array.from(
  { length: SERVICES },
  (_, i) => `      - path: /s${i}/\n        upstreams: [{ service: svc-${i}, port: http }]`,
).join('\n');
await writeFile(
  configPath,
  `listeners:\n  - address: 127.0.0.1:0\nadmin:\n  socket: ${socketPath}\nhealth:\n  address: 127.0.0.1:0\nlog:\n  level: info\nsites:\n  - name: bench\n    hosts: [bench.test]\n    routes:\n${routes}\n`,
);

/** Generation g: pod j of service i is 10.i.(j+2g)/256.(j+2g)%256 — two pods replaced per step. */
function file(generation: number): string {
  const services = Array.from({ length: SERVICES }, (_, i) => ({
    service: `svc-${i}`,
    port: 'http',
    resolved_port: 8080,
    problem: null,
    endpoints: Array.from({ length: PER_SERVICE }, (_, j) => {
      const n = j + 2 * generation;
      return {
        address: `10.${i}.${Math.floor(n / 256) % 256}.${n % 256}`,
        port: 8080,
        ready: true,
        serving: true,
        terminating: false,
      };
    }),
  }));
  return JSON.stringify({
    kind: 'ReverseProxyEndpoints',
    version: 1,
    generated_at: new Date().toISOString(),
    services,
  });
}

const child = spawn(
  process.execPath,
  [
    join(import.meta.dirname, '..', 'src', 'cli.ts'),
    'serve',
    '-c',
    configPath,
    '--workers',
    values.workers,
    '--endpoints-file',
    endpointsPath,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const applyMs: number[] = [];
let buffered = '';
let started: () => void;
const ready = new Promise<void>((resolve) => (started = resolve));
child.stdout.on('data', (chunk: Buffer) => {
  buffered += chunk.toString();
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    try {
      const entry = JSON.parse(line) as { msg?: string; apply_ms?: number };
      if (entry.msg === 'proxy started') started();
      if (entry.msg === 'endpoints applied' && entry.apply_ms !== undefined) {
        applyMs.push(entry.apply_ms);
      }
    } catch {
      // not a log line
    }
  }
});
await ready;

const admin = () =>
  sendAdminCommand({
    socketPath,
    command: 'endpoints',
    expectedUids: [process.geteuid?.() ?? 0],
    timeoutMs: 60_000,
  });
const write = async (text: string) => {
  await writeFile(`${endpointsPath}.tmp`, text);
  await rename(`${endpointsPath}.tmp`, endpointsPath);
};

const roundTrips: number[] = [];
const t0 = performance.now();
await write(file(0));
const first = await admin();
const firstMs = performance.now() - t0;
if (first.status !== 'ok') throw new Error(JSON.stringify(first));
for (let g = 1; g <= UPDATES; g++) {
  const text = file(g);
  const start = performance.now();
  await write(text);
  const reply = await admin();
  roundTrips.push(performance.now() - start);
  if (reply.status !== 'ok') throw new Error(JSON.stringify(reply));
}
const rss = process.memoryUsage().rss;
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
await rm(dir, { recursive: true, force: true });

const stats = (list: number[]) => {
  const sorted = [...list].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return `min ${at(0).toFixed(1)} median ${at(0.5).toFixed(1)} p95 ${at(0.95).toFixed(1)} max ${at(1).toFixed(1)} ms`;
};
process.stdout.write(
  [
    `workers ${values.workers}: ${SERVICES} services x ${PER_SERVICE} endpoints, file ${(file(0).length / 1024).toFixed(0)} KiB`,
    `first load (5,000 new addresses): round trip ${firstMs.toFixed(1)} ms, apply ${applyMs[0] ?? '?'} ms`,
    `${UPDATES} updates (100 addresses out, 100 in, each): round trip ${stats(roundTrips)}`,
    `  apply in the proxy (logged apply_ms): ${stats(applyMs.slice(1))}`,
    `  total for ${UPDATES}: ${roundTrips.reduce((a, b) => a + b, 0).toFixed(0)} ms (bench client rss ${(rss / 1e6).toFixed(0)} MB)`,
  ].join('\n') + '\n',
);

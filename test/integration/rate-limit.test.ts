import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendAdminCommand } from '../../src/admin/admin-client.ts';
import { sendFrom, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import { startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';
import { pidsServingPort } from '../proc-sockets.ts';

/** One request on its own connection from a chosen loopback address; the raw answer. */
function send(port: number, path: string, localAddress: string, host = 'r.test'): Promise<string> {
  return sendFrom(
    port,
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    localAddress,
  );
}

const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const header = (text: string, name: string) =>
  new RegExp(`^${name}: *([^\\r]*)\\r$`, 'im').exec(text)?.[1];

/**
 * Issue 20: `rate_limit` on a real proxy. The upstream is a raw recorder: it must see nothing
 * of a refused request. Runs as one process, or on workers when TEST_WORKERS says so.
 */
describe('rate_limit: 429 with Retry-After once the burst is spent', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: RecordingUpstream;
  let proxy: ProxyProcess;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    up = await startRecordingUpstream();
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ''
health:
  address: 127.0.0.1:0
sites:
  - name: r
    hosts: [r.test]
    rate_limit: { requests_per_second: 0.5, burst: 3 }
    routes:
      - { path: /, upstream: "${up.url}" }
      - path: /fast/
        upstream: "${up.url}"
        rate_limit: { requests_per_second: 20, burst: 2, by: client_ip }
      - path: /shared/
        upstream: "${up.url}"
        rate_limit: { requests_per_second: 0.5, burst: 2, by: site }
`,
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  it('admits the burst, then 429 with Retry-After in whole seconds; the upstream sees nothing of it', async () => {
    const before = up.requests.length;
    for (let i = 0; i < 3; i++) assert.equal(status(await send(proxy.port, '/', '127.0.0.2')), 200);
    const refused = await send(proxy.port, '/', '127.0.0.2');
    assert.equal(status(refused), 429);
    // One token every 2 s, the last one just taken: 2 s (rounded up to whole seconds).
    assert.equal(header(refused, 'retry-after'), '2');
    assert.equal(up.requests.length, before + 3, 'only the admitted requests went upstream');
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(
      metrics,
      /reverse_proxy_refusals_total\{site="r",route="\/",reason="rate_limited"\} 1\b/,
    );
    assert.match(metrics, /^reverse_proxy_rate_limit_buckets [1-9]/m);
    assert.match(metrics, /^reverse_proxy_rate_limit_evictions_total 0$/m);
  });

  it('admits again once a token has refilled', async () => {
    assert.equal(status(await send(proxy.port, '/fast/', '127.0.0.2')), 200);
    assert.equal(status(await send(proxy.port, '/fast/', '127.0.0.2')), 200);
    const refused = await send(proxy.port, '/fast/', '127.0.0.2');
    assert.equal(status(refused), 429);
    assert.equal(header(refused, 'retry-after'), '1', 'under a second, said as 1');
    await sleep(120); // 20/s: a token every 50 ms
    assert.equal(status(await send(proxy.port, '/fast/', '127.0.0.2')), 200);
  });

  it('by: client_ip gives each client address its own bucket; by: site shares one', async () => {
    for (let i = 0; i < 3; i++) assert.equal(status(await send(proxy.port, '/', '127.0.0.4')), 200);
    assert.equal(status(await send(proxy.port, '/', '127.0.0.4')), 429);
    assert.equal(status(await send(proxy.port, '/', '127.0.0.3')), 200, 'another address');
    assert.equal(status(await send(proxy.port, '/shared/', '127.0.0.2')), 200);
    assert.equal(status(await send(proxy.port, '/shared/', '127.0.0.3')), 200);
    assert.equal(
      status(await send(proxy.port, '/shared/', '127.0.0.4')),
      429,
      'a third address finds the shared bucket empty',
    );
  });
});

describe('rate_limit with --workers 2: the limit holds for the whole proxy', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: RecordingUpstream;
  let proxy: ProxyProcess;
  let socketPath: string;
  const rate = 5;
  const burst = 10;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    socketPath = join(dir, 'run', 'admin.sock');
    up = await startRecordingUpstream();
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ${socketPath}
health:
  address: 127.0.0.1:0
sites:
  - name: r
    hosts: [r.test]
    routes:
      - path: /
        upstream: "${up.url}"
        rate_limit: { requests_per_second: ${rate}, burst: ${burst}, by: client_ip }
`,
    );
    proxy = await startProxy(path, ['--workers', '2']);
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  it('a burst over many connections, served by both workers, admits no more than burst + refill', async () => {
    const status0 = await sendAdminCommand({
      socketPath,
      command: 'status',
      expectedUids: [process.geteuid?.() ?? 0],
      timeoutMs: 10_000,
    });
    const pids = (status0.workers as { pid: number }[]).map((w) => w.pid);
    assert.equal(pids.length, 2);
    // 60 connections from one client address, all open before any request is sent.
    const sockets = await Promise.all(
      Array.from({ length: 60 }, async () => {
        const socket = net.connect({
          port: proxy.port,
          host: '127.0.0.1',
          localAddress: '127.0.0.5',
        });
        await once(socket, 'connect');
        return socket;
      }),
    );
    // The kernel has queued each on a worker; wait until both have accepted theirs.
    let counts = new Map<number, number>();
    for (let i = 0; i < 50; i++) {
      counts = pidsServingPort(proxy.port, pids);
      if ([...counts.values()].reduce((a, b) => a + b, 0) >= 60) break;
      await sleep(20);
    }
    for (const pid of pids) assert.ok((counts.get(pid) ?? 0) > 0, `worker ${pid}: ${[...counts]}`);
    const started = performance.now();
    const replies = await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<string>((resolve) => {
            let text = '';
            socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
            socket.on('close', () => resolve(text));
            socket.on('error', () => resolve(text));
            socket.write('GET / HTTP/1.1\r\nHost: r.test\r\nConnection: close\r\n\r\n');
          }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const statuses = replies.map(status);
    const admitted = statuses.filter((s) => s === 200).length;
    const refused = statuses.filter((s) => s === 429).length;
    assert.equal(admitted + refused, 60, `every request answered 200 or 429: ${statuses}`);
    const most = burst + Math.floor(rate * seconds);
    assert.ok(
      admitted <= most,
      `${admitted} admitted in ${seconds.toFixed(3)} s: one bucket admits at most ${most}`,
    );
    assert.ok(admitted >= burst / 2, `${admitted} admitted: the leases strand little`);
    assert.equal(up.requests.length, admitted, 'the upstream saw only the admitted requests');
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(
        `reverse_proxy_refusals_total\\{site="r",route="/",reason="rate_limited"\\} ${refused}\\b`,
      ),
    );
    assert.match(
      metrics,
      /^reverse_proxy_rate_limit_buckets 1$/m,
      'the primary holds the one bucket',
    );
    assert.match(metrics, /^reverse_proxy_rate_limit_lease_timeouts_total 0$/m);
  });
});

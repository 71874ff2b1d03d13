import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { sendAdminCommand } from '../../src/admin/admin-client.ts';
import type { AdminReply } from '../../src/admin/admin-protocol.ts';
import {
  CLI,
  configYaml,
  request,
  site,
  startProxy,
  startUpstream,
  tmpDir,
  writeConfig,
} from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { eventually } from '../sidecar-process.ts';
import { pidsServingPort } from '../proc-sockets.ts';
import { makeCertificate } from '../certs.ts';

interface WorkerInfo {
  slot: number;
  pid: number;
  generation: number;
  ready: boolean;
}

describe('workers: one primary, several processes serving on SO_REUSEPORT', () => {
  let up: Upstream;
  let slow: Upstream;
  let dir: string;
  let cleanup: () => Promise<void>;
  let configPath: string;
  let socketPath: string;
  let proxy: ProxyProcess;

  const config = (extraRoute = '') =>
    configYaml(
      site(
        'w',
        ['w.test'],
        [
          ['/', up.url],
          ['/slow/', slow.url],
          ...(extraRoute === '' ? [] : ([[extraRoute, up.url]] as [string, string][])),
        ],
      ),
      'workers: 2\nshutdown:\n  grace_period_ms: 10000',
      `  socket: ${socketPath}`,
    );
  const admin = (command: string): Promise<AdminReply> =>
    sendAdminCommand({
      socketPath,
      command,
      expectedUids: [process.geteuid?.() ?? 0],
      timeoutMs: 30_000,
    });
  const workers = async () => (await admin('status')).workers as WorkerInfo[];
  const get = (path: string, agent?: http.Agent) =>
    request(`${proxy.url}${path}`, { host: 'w.test', ...(agent === undefined ? {} : { agent }) });

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    socketPath = join(dir, 'run', 'admin.sock');
    up = await startUpstream('up');
    slow = await startUpstream('slow', (_req, res) => {
      setTimeout(() => res.end('slow done'), 600);
    });
    configPath = join(dir, 'proxy.yaml');
    await writeConfig(configPath, config());
    proxy = await startProxy(configPath, ['--workers', '2']);
  });

  after(async () => {
    if (proxy.child.exitCode === null) await proxy.stop();
    await up.close();
    await slow.close();
    await cleanup();
  });

  it('starts two workers that both accept connections; the primary serves none', async () => {
    const list = await workers();
    assert.equal(list.length, 2);
    const pids = list.map((w) => w.pid);
    assert.equal(new Set(pids).size, 2, 'two distinct worker processes');
    assert.ok(!pids.includes(proxy.child.pid ?? -1), 'the primary is not a worker');
    // Hold many connections open at once and ask the kernel who holds their server side.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
    const replies = await Promise.all(Array.from({ length: 40 }, () => get('/', agent)));
    assert.ok(replies.every((r) => r.status === 200));
    const counts = pidsServingPort(proxy.port, [...pids, proxy.child.pid ?? 0]);
    agent.destroy();
    assert.ok((counts.get(pids[0] as number) ?? 0) > 0, `worker ${pids[0]} served: ${[...counts]}`);
    assert.ok((counts.get(pids[1] as number) ?? 0) > 0, `worker ${pids[1]} served: ${[...counts]}`);
    assert.equal(counts.get(proxy.child.pid ?? 0), 0, 'the primary holds no client connection');
  });

  it('answers a reload only once every worker serves it', async () => {
    assert.equal((await get('/fresh/x')).body, 'up GET /fresh/x'); // the / route, for now
    await writeConfig(configPath, config('/fresh/'));
    const reply = await admin('reload');
    assert.equal(reply.status, 'ok');
    assert.equal(reply.outcome, 'applied');
    // Straight after the reply, new connections land on both workers: all see the new route.
    const status = await admin('status');
    const before = (status.workers as WorkerInfo[]).map((w) => w.generation);
    assert.deepEqual(before, [reply.generation, reply.generation]);
    // The primary's status: the workers beside the last reload, which every one of them serves.
    assert.equal((status.last_reload as { outcome: string }).outcome, 'applied');
    const replies = await Promise.all(Array.from({ length: 30 }, () => get('/fresh/x')));
    for (const r of replies) assert.equal(r.status, 200);
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(
      metrics,
      /reverse_proxy_requests_total\{site="w",route="\/fresh\/",status_class="2xx"\} 30\b/,
    );
  });

  it('fails no request of a keep-alive load through a storm of reloads', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    const statuses: number[] = [];
    const loop = async () => {
      while (!stop)
        statuses.push(
          await get('/', agent).then(
            (r) => r.status,
            () => 0,
          ),
        );
    };
    const loops = Array.from({ length: 8 }, loop);
    for (let i = 0; i < 20; i++) {
      await writeConfig(configPath, config(i % 2 === 0 ? '/a/' : '/b/'));
      const reply = await admin('reload');
      assert.equal(reply.status, 'ok', JSON.stringify(reply));
    }
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    assert.ok(statuses.length > 100, `${statuses.length} requests`);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      `${statuses.length} requests, the failures listed`,
    );
  });

  it('replaces a SIGKILLed worker on the current config, and traffic goes on', async () => {
    const [victim, other] = await workers();
    assert.ok(victim && other);
    const generation = victim.generation;
    process.kill(victim.pid, 'SIGKILL');
    const replaced = await eventually(
      'a new worker in the slot',
      async () => {
        const now = (await workers()).find((w) => w.slot === victim.slot);
        return now !== undefined && now.pid !== victim.pid && now.ready ? now : undefined;
      },
      5_000,
    );
    assert.equal(replaced.generation, generation, 'the replacement serves the current config');
    assert.ok(
      (await workers()).some((w) => w.pid === other.pid),
      'the other worker kept running',
    );
    const replies = await Promise.all(Array.from({ length: 30 }, () => get('/')));
    assert.ok(replies.every((r) => r.status === 200));
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(metrics, /reverse_proxy_worker_restarts_total\{reason="signal"\} 1\b/);
    assert.match(metrics, /reverse_proxy_workers 2\b/);
    const died = proxy.logs.find((l) => l.msg === 'worker died; replacing it');
    assert.equal(died?.worker_pid, victim.pid);
    assert.equal((await fetch(`${proxy.healthUrl}/readyz`)).status, 200);
  });

  it('replaces a worker that cannot apply a reload with one that serves it, and says so', async () => {
    const [stuck, other] = await workers();
    assert.ok(stuck && other);
    // A stopped process answers nothing: the primary's deadline (5 s at least) runs out.
    process.kill(stuck.pid, 'SIGSTOP');
    await writeConfig(configPath, config('/after-stuck/'));
    const reply = await admin('reload');
    assert.equal(reply.status, 'ok');
    assert.equal(reply.outcome, 'applied');
    assert.deepEqual(reply.workers_replaced, [stuck.pid]);
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(metrics, /reverse_proxy_worker_restarts_total\{reason="apply_failed"\} 1\b/);
    const now = await workers();
    assert.deepEqual(
      now.map((w) => [w.slot, w.generation, w.ready]),
      [
        [0, reply.generation, true],
        [1, reply.generation, true],
      ],
    );
    assert.ok(!now.some((w) => w.pid === stuck.pid), 'the stuck worker is gone');
    assert.ok(
      now.some((w) => w.pid === other.pid),
      'the other one kept running',
    );
    await eventually('the stuck worker killed', () => {
      try {
        process.kill(stuck.pid, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    const replies = await Promise.all(Array.from({ length: 20 }, () => get('/after-stuck/x')));
    assert.ok(replies.every((r) => r.body === 'up GET /after-stuck/x'));
  });

  it('adds up requests over the workers in /metrics, and keeps the primary figures whole', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
      const line =
        /^reverse_proxy_requests_total\{site="w",route="\/",status_class="2xx"\} (\d+)$/m.exec(
          text,
        );
      return { text, count: Number(line?.[1] ?? 0) };
    };
    const start = await scrape();
    const replies = await Promise.all(Array.from({ length: 40 }, () => get('/')));
    assert.ok(replies.every((r) => r.status === 200));
    const end = await scrape();
    // The killed worker's own counts died with it; these 40 are served by the live ones.
    assert.equal(end.count - start.count, 40);
    const generation = /^reverse_proxy_config_generation (\d+)$/m.exec(end.text)?.[1];
    assert.equal(Number(generation), (await admin('status')).generation, 'not a sum over workers');
    assert.match(end.text, /^reverse_proxy_config_last_reload_successful 1$/m);
  });

  it('drains every worker on SIGTERM: requests in flight on each finish, then it exits 0', async () => {
    const pids = (await workers()).map((w) => w.pid);
    const pending = Array.from({ length: 12 }, () => get('/slow/'));
    // Wait until both workers hold some of them.
    await eventually('both workers hold a slow request', () => {
      const counts = pidsServingPort(proxy.port, pids);
      return [...counts.values()].every((n) => n > 0) ? true : undefined;
    });
    const code = proxy.stop();
    const replies = await Promise.all(pending);
    assert.deepEqual(
      replies.map((r) => `${r.status} ${r.body}`),
      replies.map(() => '200 slow done'),
    );
    assert.equal(await code, 0);
    assert.ok(proxy.logs.some((l) => l.msg === 'stopped: drained'));
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'the worker is gone');
  });
});

describe('workers: validation', () => {
  it('refuses workers: 0 in the file, and --workers 0 on the command line', async () => {
    const { dir, cleanup } = await tmpDir();
    try {
      const path = join(dir, 'p.yaml');
      await writeConfig(
        path,
        configYaml(site('a', ['a'], [['/', 'http://127.0.0.1:9']]), 'workers: 0'),
      );
      const run = (args: string[]) => {
        try {
          execFileSync(process.execPath, [CLI, ...args], { stdio: 'pipe' });
          return { code: 0, stderr: '' };
        } catch (err) {
          const e = err as { status: number; stderr: Buffer };
          return { code: e.status, stderr: e.stderr.toString() };
        }
      };
      const invalid = run(['validate', '-c', path]);
      assert.equal(invalid.code, 1);
      assert.match(
        invalid.stderr,
        /workers: must be "auto" or a whole number from 1 to 64 \(line \d+\)/,
      );
      await writeConfig(path, configYaml(site('a', ['a'], [['/', 'http://127.0.0.1:9']])));
      const flag = run(['serve', '-c', path, '--workers', '0']);
      assert.equal(flag.code, 2);
      assert.match(flag.stderr, /--workers: must be "auto" or a whole number from 1 to 64/);
    } finally {
      await cleanup();
    }
  });
});

describe('workers: WebSockets, TLS rotation and HTTP/2 in every worker', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ws: Upstream;
  let other: Upstream;
  let proxy: ProxyProcess;
  let configPath: string;
  let cert: { certFile: string; keyFile: string };
  let tlsPort: number;

  const config = (upstream: string) => `workers: 2
listeners:
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
    tls: true
tls:
  certificates:
    - { cert_file: ${cert.certFile}, key_file: ${cert.keyFile} }
admin:
  socket: ''
health:
  address: 127.0.0.1:0
sites:
  - name: edge
    hosts: ["*"]
    routes:
      - { path: /, upstream: "${upstream}" }
`;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    ws = await startUpstream('ws', (_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ server: ws.server });
    wss.on('connection', (socket) =>
      socket.on('message', (data) => socket.send(`echo:${data.toString()}`)),
    );
    other = await startUpstream('other', (_req, res) => res.end('other'));
    cert = makeCertificate(dir, 'live', ['a.example']);
    configPath = join(dir, 'proxy.yaml');
    await writeConfig(configPath, config(ws.url));
    proxy = await startProxy(configPath, ['--workers', '2']);
    const started = proxy.logs.find((l) => l.msg === 'proxy started');
    const listeners = started?.listeners as string[];
    tlsPort = Number((listeners[1] as string).split(':').pop());
  });

  after(async () => {
    await proxy.stop();
    await ws.close();
    await other.close();
    await cleanup();
  });

  it('keeps WebSockets open on both workers across a reload that moves their route', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/chat`);
        const messages: string[] = [];
        socket.on('message', (data) => messages.push(data.toString()));
        await once(socket, 'open');
        return { socket, messages };
      }),
    );
    const started = proxy.logs.find((l) => l.msg === 'proxy started');
    const counts = pidsServingPort(proxy.port, started?.worker_pids as number[]);
    assert.ok(
      [...counts.values()].every((n) => n > 0),
      `tunnels on both workers: ${[...counts]}`,
    );
    await writeConfig(configPath, config(other.url));
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.equal((await request(proxy.url)).body, 'other', 'new requests take the new route');
    for (const { socket } of sockets) socket.send('after');
    await eventually('every echo after the reload', () =>
      sockets.every((s) => s.messages.includes('echo:after')) ? true : undefined,
    );
    for (const { socket } of sockets) socket.close();
  });

  it('serves rotated certificates from every worker after a reload, over HTTP/1.1 and HTTP/2', async () => {
    const rotated = makeCertificate(dir, 'rotated', ['a.example', 'rotated.example']);
    copyFileSync(rotated.certFile, cert.certFile);
    copyFileSync(rotated.keyFile, cert.keyFile);
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.equal(outcome.certificates_changed, true);
    // Many fresh handshakes: the kernel spreads them over both workers.
    const names = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port: tlsPort,
          servername: 'a.example',
          rejectUnauthorized: false,
        });
        await once(socket, 'secureConnect');
        const san = socket.getPeerCertificate().subjectaltname;
        socket.destroy();
        return san;
      }),
    );
    assert.deepEqual(new Set(names), new Set(['DNS:a.example, DNS:rotated.example']));
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, {
      servername: 'a.example',
      rejectUnauthorized: false,
    });
    const stream = session.request({ ':path': '/h2', ':authority': 'a.example' });
    let body = '';
    stream.on('data', (c: Buffer) => (body += c.toString()));
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    await once(stream, 'end');
    session.close();
    assert.equal(headers[':status'], 200);
    assert.equal(body, 'other');
  });
});

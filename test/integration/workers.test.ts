import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
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

interface WorkerInfo {
  slot: number;
  pid: number;
  generation: number;
  ready: boolean;
}

/**
 * The pids of the processes holding established connections whose local port is `port`:
 * the socket inodes of /proc/net/tcp matched with each pid's descriptors. No response says
 * which worker served it, by design; the kernel does.
 */
function pidsServingPort(port: number, pids: readonly number[]): Map<number, number> {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const localPort = parseInt((fields[1] as string).split(':')[1] as string, 16);
    if (localPort === port && fields[3] === '01') inodes.add(fields[9] as string);
  }
  const counts = new Map<number, number>();
  for (const pid of pids) {
    let n = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (inodes.has(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '')) n++;
      } catch {
        // closed while we looked
      }
    }
    counts.set(pid, n);
  }
  return counts;
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
    const before = (await workers()).map((w) => w.generation);
    assert.deepEqual(before, [reply.generation, reply.generation]);
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

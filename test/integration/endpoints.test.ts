import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sendAdminCommand } from '../../src/admin/admin-client.ts';
import type { AdminReply } from '../../src/admin/admin-protocol.ts';
import { CLI, configYaml, request, startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';
import { closedPort, startCounting } from '../upstream-servers.ts';
import { eventually } from '../sidecar-process.ts';
import type { CountingUpstream } from '../upstream-servers.ts';

/**
 * Issue 22, the proxy's side: `service:` upstreams served from `--endpoints-file`, updated by
 * the `endpoints` admin command without a config revision. Real proxies (one process, then two
 * workers), real upstreams on port 0, the file written here as the sidecar writes it.
 */

interface Endpoint {
  address: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

const ep = (port: number, conditions: Partial<Endpoint> = {}): Endpoint => ({
  address: '127.0.0.1',
  port,
  ready: true,
  serving: true,
  terminating: false,
  ...conditions,
});

const ROUTES = `
      - path: /w/
        upstreams:
          - { service: a, port: http, weight: 3 }
          - { service: b, port: 8080, weight: 1 }
      - path: /p/
        upstreams: [{ service: p, port: http }]
        passive_health: { consecutive_failures: 1, ejection_ms: 600000 }
      - path: /slow/
        upstreams: [{ service: s, port: http }]
      - path: /none/
        upstreams: [{ service: none, port: http }]
      - path: /aff/
        upstreams: [{ service: aff, port: http }]
        affinity: { cookie: rp-aff }
      - path: /hc/
        upstreams: [{ service: hc, port: http }]
        health_check: { path: /healthz, interval_ms: 100, timeout_ms: 500, healthy_threshold: 1, unhealthy_threshold: 1 }
      - path: /
        upstreams: [{ service: users, port: http }]`;

function config(socket: string, workers: number, extraRoutes = ''): string {
  return configYaml(
    `  - name: svc\n    hosts: [svc.test]\n    routes:${extraRoutes}${ROUTES}\n`,
    `workers: ${workers}\nshutdown:\n  grace_period_ms: 5000`,
    `  socket: ${socket}`,
  );
}

/** Runs the whole suite against a proxy of `workers` processes. */
function suite(workers: number): void {
  describe(`service upstreams from --endpoints-file (workers: ${workers})`, () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let socketPath: string;
    let endpointsPath: string;
    let configPath: string;
    let proxy: ProxyProcess;
    const ups: CountingUpstream[] = [];
    let slow: CountingUpstream;
    let badPort: number;
    /** What the file lists, by `service\0port`; each test sets its own services. */
    const services = new Map<
      string,
      { service: string; port: string | number; endpoints: Endpoint[] }
    >();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

    const up = (i: number) => ups[i] as CountingUpstream;
    const set = (service: string, port: string | number, endpoints: Endpoint[]) =>
      services.set(`${service}\0${port}`, { service, port, endpoints });
    const writeEndpoints = async (text?: string) => {
      const body =
        text ??
        JSON.stringify({
          kind: 'ReverseProxyEndpoints',
          version: 1,
          generated_at: new Date().toISOString(),
          services: [...services.values()].map((s) => ({
            ...s,
            resolved_port: s.endpoints[0]?.port ?? null,
            problem: null,
          })),
        });
      // As the sidecar writes it: a temp file in the same directory, then a rename.
      await writeFile(`${endpointsPath}.tmp`, body, { mode: 0o600 });
      await rename(`${endpointsPath}.tmp`, endpointsPath);
    };
    const admin = (command: string): Promise<AdminReply> =>
      sendAdminCommand({
        socketPath,
        command,
        expectedUids: [process.geteuid?.() ?? 0],
        timeoutMs: 30_000,
      });
    const update = async () => {
      await writeEndpoints();
      const reply = await admin('endpoints');
      assert.equal(reply.status, 'ok', JSON.stringify(reply));
      return reply;
    };
    const get = (path: string, fresh = false) =>
      request(`${proxy.url}${path}`, { host: 'svc.test', ...(fresh ? {} : { agent }) });
    /** Which upstreams answered `n` requests to `path`, by name. */
    const spread = async (path: string, n: number, fresh = false) => {
      const counts = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const reply = await get(path, fresh);
        const name =
          reply.status === 200 ? (reply.body.split(' ')[0] as string) : `${reply.status}`;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      return counts;
    };

    before(async () => {
      ({ dir, cleanup } = await tmpDir('rp-endpoints-'));
      socketPath = join(dir, 'run', 'admin.sock');
      endpointsPath = join(dir, 'run-endpoints.json');
      configPath = join(dir, 'proxy.yaml');
      for (let i = 0; i < 8; i++) ups.push(await startCounting(`e${i}`));
      slow = await startCounting('slow', (_req, res) => {
        setTimeout(() => res.end('slow done'), 800);
        return true;
      });
      badPort = await closedPort();
      set('users', 'http', [ep(up(0).port), ep(up(1).port)]);
      await writeEndpoints();
      await writeConfig(configPath, config(socketPath, workers));
      proxy = await startProxy(configPath, [
        '--workers',
        String(workers),
        '--endpoints-file',
        endpointsPath,
      ]);
    });

    after(async () => {
      agent.destroy();
      if (proxy.child.exitCode === null) await proxy.stop();
      for (const u of [...ups, slow]) await u.close();
      await cleanup();
    });

    it('spreads traffic over the endpoints of the file read at start', async () => {
      const counts = await spread('/', 20);
      assert.deepEqual([...counts.keys()].sort(), ['e0', 'e1']);
      assert.ok((counts.get('e0') ?? 0) >= 5 && (counts.get('e1') ?? 0) >= 5, String([...counts]));
    });

    it('`ctl endpoints` applies an added endpoint without a config revision', async () => {
      const before = await admin('status');
      set('users', 'http', [ep(up(0).port), ep(up(1).port), ep(up(2).port)]);
      await writeEndpoints();
      const ctl = spawn(process.execPath, [CLI, 'ctl', '-s', socketPath, 'endpoints'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      ctl.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const [code] = await once(ctl, 'exit');
      assert.equal(code, 0, out);
      const reply = JSON.parse(out) as Record<string, unknown>;
      assert.equal(reply.status, 'ok');
      assert.equal(reply.services, 1);
      assert.equal(reply.endpoints, 3);
      assert.equal(typeof reply.generated_at, 'string');
      const counts = await spread('/', 30);
      assert.ok((counts.get('e2') ?? 0) >= 5, String([...counts]));
      const afterStatus = await admin('status');
      assert.equal(afterStatus.generation, before.generation);
      assert.equal(afterStatus.config_sha256, before.config_sha256);
      assert.ok(!proxy.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('reload')));
    });

    it('sends no new request to a not-ready or terminating endpoint while one is ready', async () => {
      set('users', 'http', [
        ep(up(0).port),
        ep(up(1).port, { ready: false, terminating: true }),
        ep(up(2).port, { ready: false, serving: false }),
      ]);
      await update();
      const counts = await spread('/', 20);
      assert.deepEqual([...counts], [['e0', 20]]);
    });

    it('falls back to serving + terminating endpoints when none is ready', async () => {
      set('users', 'http', [
        ep(up(1).port, { ready: false, serving: true, terminating: true }),
        ep(up(2).port, { ready: false, serving: false, terminating: true }),
      ]);
      await update();
      const counts = await spread('/', 10);
      assert.deepEqual([...counts], [['e1', 10]]);
    });

    it('answers 503 no_endpoints without endpoints, and recovers with the next update', async () => {
      const none = await get('/none/x');
      assert.equal(none.status, 503);
      assert.equal(JSON.parse(none.body).error, 'no_endpoints');
      set('none', 'http', []);
      await update();
      assert.equal((await get('/none/x')).status, 503);
      set('none', 'http', [ep(up(3).port)]);
      await update();
      const ok = await get('/none/x');
      assert.equal(ok.status, 200);
      assert.match(ok.body, /^e3 /);
      const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
      assert.match(
        metrics,
        /reverse_proxy_service_endpoints\{service="none",port="http",condition="ready"\} 1/,
      );
      assert.match(metrics, /reverse_proxy_endpoint_updates_total\{outcome="applied"\} [1-9]/);
      assert.match(metrics, /reverse_proxy_endpoints_last_update_timestamp_seconds [1-9]/);
    });

    it('splits a service entry weight over its endpoints (3:1 whatever the pod counts)', async () => {
      set('a', 'http', [ep(up(4).port), ep(up(5).port), ep(up(6).port)]);
      set('b', 8080, [ep(up(7).port)]);
      await update();
      const counts = await spread('/w/', 200);
      const a = (counts.get('e4') ?? 0) + (counts.get('e5') ?? 0) + (counts.get('e6') ?? 0);
      const b = counts.get('e7') ?? 0;
      assert.equal(a + b, 200, String([...counts]));
      assert.ok(a >= 135 && a <= 165, `a ${a}, b ${b}`);
    });

    it('keeps a kept address state across updates: an ejection stays', async () => {
      set('p', 'http', [ep(up(0).port), ep(badPort)]);
      await update();
      // New connections spread over the workers; each ejects the bad one at its first failure.
      const first = await spread('/p/', 30, true);
      assert.ok((first.get('502') ?? 0) >= 1, String([...first]));
      const metricsBefore = (await request(`${proxy.healthUrl}/metrics`)).body;
      const ejections = (text: string) =>
        text
          .split('\n')
          .filter(
            (l) =>
              l.startsWith('reverse_proxy_upstream_ejections_total{') && l.includes(`:${badPort}"`),
          )
          .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      const ejected = ejections(metricsBefore);
      assert.ok(ejected >= 1);
      set('p', 'http', [ep(up(0).port), ep(badPort), ep(up(1).port)]);
      await update();
      // With its state reset, the bad endpoint would be tried again (a 502 per worker).
      const second = await spread('/p/', 40, true);
      assert.equal(second.get('502'), undefined, String([...second]));
      assert.ok((second.get('e1') ?? 0) >= 5, String([...second]));
      assert.equal(ejections((await request(`${proxy.healthUrl}/metrics`)).body), ejected);
    });

    it('probes endpoint targets with the route health_check', async () => {
      up(5).setHealth(500);
      try {
        set('hc', 'http', [ep(up(4).port), ep(up(5).port)]);
        await update();
        await eventually('e5 out', async () => {
          const counts = await spread('/hc/', 10, true);
          return counts.get('e5') === undefined ? true : undefined;
        });
        const probes = up(5).probes();
        assert.ok(probes >= 1);
        // An update that keeps e5 keeps its verdict: no traffic until a probe passes.
        set('hc', 'http', [ep(up(4).port), ep(up(5).port), ep(up(6).port)]);
        await update();
        const counts = await spread('/hc/', 20, true);
        assert.equal(counts.get('e5'), undefined, String([...counts]));
        up(5).setHealth(200);
        await eventually('e5 back', async () =>
          ((await spread('/hc/', 12, true)).get('e5') ?? 0) > 0 ? true : undefined,
        );
      } finally {
        up(5).setHealth(200);
      }
    });

    it('keeps affinity to an endpoint across updates, and re-pins when it leaves', async () => {
      set('aff', 'http', [ep(up(0).port), ep(up(1).port), ep(up(2).port)]);
      await update();
      const first = await get('/aff/', true);
      const cookie = String(first.headers['set-cookie']?.[0]).split(';')[0] as string;
      assert.match(cookie, /^rp-aff=/);
      const pinned = first.body.split(' ')[0] as string;
      const withCookie = async (value: string) => {
        const names = new Set<string>();
        let cookies = 0;
        for (let i = 0; i < 10; i++) {
          const reply = await request(`${proxy.url}/aff/`, {
            host: 'svc.test',
            headers: { cookie: value },
          });
          names.add(reply.body.split(' ')[0] as string);
          if (reply.headers['set-cookie'] !== undefined) cookies++;
        }
        return { names: [...names], cookies };
      };
      assert.deepEqual(await withCookie(cookie), { names: [pinned], cookies: 0 });
      // Endpoints come and go around it: the client stays.
      const others = [0, 1, 2, 3].filter((i) => `e${i}` !== pinned);
      const pinnedIndex = Number(pinned.slice(1));
      set('aff', 'http', [
        ep(up(3).port),
        ep(up(pinnedIndex).port),
        ep(up(others[0] as number).port),
      ]);
      await update();
      assert.deepEqual(await withCookie(cookie), { names: [pinned], cookies: 0 });
      // Its endpoint leaves: the client moves, and the answer pins it to the new one.
      set(
        'aff',
        'http',
        others.slice(0, 2).map((i) => ep(up(i).port)),
      );
      await update();
      const moved = await request(`${proxy.url}/aff/`, { host: 'svc.test', headers: { cookie } });
      const next = moved.body.split(' ')[0] as string;
      assert.notEqual(next, pinned);
      const newCookie = String(moved.headers['set-cookie']?.[0]).split(';')[0] as string;
      assert.notEqual(newCookie, cookie);
      assert.deepEqual(await withCookie(newCookie), { names: [next], cookies: 0 });
    });

    it('lets an in-flight request to a removed endpoint finish', async () => {
      set('s', 'http', [ep(slow.port)]);
      await update();
      const pending = get('/slow/');
      await new Promise((resolve) => setTimeout(resolve, 200));
      set('s', 'http', [ep(up(3).port)]);
      await update();
      const done = await pending;
      assert.equal(done.status, 200);
      assert.equal(done.body, 'slow done');
      assert.match((await get('/slow/')).body, /^e3 /);
    });

    it('keeps serving with 0 failures through adds, removals and a rolling replacement', async () => {
      set('users', 'http', [ep(up(0).port), ep(up(1).port)]);
      await update();
      let stop = false;
      const statuses: number[] = [];
      const client = async () => {
        while (!stop)
          statuses.push(
            await get('/').then(
              (r) => r.status,
              () => 0,
            ),
          );
      };
      const clients = Array.from({ length: 4 }, client);
      const steps = [
        [0, 1, 2],
        [1, 2],
        [1, 2, 3],
        [2, 3],
        [3, 4],
        [4, 5],
        [5, 6],
        [6, 7],
      ];
      for (const step of steps) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        set(
          'users',
          'http',
          step.map((i) => ep(up(i).port)),
        );
        await update();
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
      stop = true;
      await Promise.all(clients);
      const failed = statuses.filter((s) => s !== 200);
      assert.ok(statuses.length > 50, `only ${statuses.length} requests`);
      assert.deepEqual(failed, [], `${failed.length} of ${statuses.length} failed`);
      const counts = await spread('/', 10);
      assert.deepEqual([...counts.keys()].sort(), ['e6', 'e7']);
    });

    it('refuses an invalid or missing file with a fixed reply and keeps the endpoints', async () => {
      set('users', 'http', [ep(up(0).port)]);
      await update();
      await writeEndpoints('{"kind":"ReverseProxyEndpoints","version":1,"generated_at":"x"');
      const reply = await admin('endpoints');
      assert.deepEqual(reply, {
        status: 'error',
        message: "endpoints file unreadable or invalid (see the proxy's log)",
      });
      const logged = await proxy.waitForLog(
        (l) => l.msg === 'endpoints file unreadable or invalid: the previous endpoints stay',
        { includePast: true },
      );
      assert.equal(logged.code, 'ERR_ENDPOINTS_INVALID');
      assert.equal(logged.stack, undefined);
      await writeEndpoints(
        JSON.stringify({
          kind: 'ReverseProxyEndpoints',
          version: 1,
          generated_at: new Date().toISOString(),
          services: [
            {
              service: 'users',
              port: 'http',
              resolved_port: 1,
              problem: null,
              endpoints: [
                { address: '10.0.0.300', port: 1, ready: true, serving: true, terminating: false },
              ],
            },
          ],
        }),
      );
      assert.equal((await admin('endpoints')).status, 'error');
      assert.ok(
        proxy.logs.some((l) =>
          JSON.stringify(l.errors ?? '').includes('services[0].endpoints[0].address'),
        ),
      );
      await rm(endpointsPath);
      assert.deepEqual(await admin('endpoints'), {
        status: 'error',
        message: "endpoints file unreadable or invalid (see the proxy's log)",
      });
      const counts = await spread('/', 5);
      assert.deepEqual([...counts], [['e0', 5]]);
      const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
      assert.match(metrics, /reverse_proxy_endpoint_updates_total\{outcome="failed"\} [3-9]/);
    });

    it('gives a route added by a reload the endpoints it names at once', async () => {
      set('users', 'http', [ep(up(2).port)]);
      await update();
      await writeConfig(
        configPath,
        config(
          socketPath,
          workers,
          `\n      - path: /new/\n        upstreams: [{ service: users, port: http }]`,
        ),
      );
      const reply = await admin('reload');
      assert.equal(reply.status, 'ok', JSON.stringify(reply));
      const counts = await spread('/new/', 5);
      assert.deepEqual([...counts], [['e2', 5]]);
    });
  });
}

suite(1);
suite(2);

describe('validate: service upstreams', () => {
  const validate = async (yaml: string, args: string[] = []) => {
    const { dir, cleanup } = await tmpDir('rp-endpoints-validate-');
    try {
      const path = join(dir, 'proxy.yaml');
      await writeConfig(path, yaml);
      const child = spawn(process.execPath, [CLI, 'validate', '-c', path, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const [code] = await once(child, 'exit');
      return { code: code as number, stderr };
    } finally {
      await cleanup();
    }
  };
  const routes = (entry: string) =>
    configYaml(
      `  - name: v\n    hosts: [v.test]\n    routes:\n      - path: /a/\n        upstream: http://127.0.0.1:1\n      - path: /\n        upstreams: [${entry}]\n`,
    );

  it('names the route of a service entry without an endpoint source', async () => {
    const { code, stderr } = await validate(routes('{ service: users, port: http }'));
    assert.equal(code, 1);
    assert.match(
      stderr,
      /sites\[0\]\.routes\[1\]\.upstreams\[0\]\.service: needs an endpoint source: run with the sidecar \(the chart passes --endpoints-file\) or pass --endpoints-file/,
    );
    const ok = await validate(routes('{ service: users, port: http }'), [
      '--endpoints-file',
      '/nonexistent/e.json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('refuses a bad service name and a bad port', async () => {
    const flag = ['--endpoints-file', '/x/e.json'];
    const name = await validate(routes('{ service: Users_1, port: http }'), flag);
    assert.equal(name.code, 1);
    assert.match(
      name.stderr,
      /sites\[0\]\.routes\[1\]\.upstreams\[0\]\.service: must be a Service name/,
    );
    const port = await validate(routes('{ service: users, port: 70000 }'), flag);
    assert.equal(port.code, 1);
    assert.match(port.stderr, /sites\[0\]\.routes\[1\]\.upstreams\[0\]\.port: must be a port name/);
    const named = await validate(routes('{ service: users, port: "Http!" }'), flag);
    assert.equal(named.code, 1);
    const twice = await validate(
      routes('{ service: users, port: http }, { service: users, port: http, weight: 2 }'),
      flag,
    );
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /lists service users:http twice/);
  });
});

describe('the endpoints command without an endpoint source', () => {
  it('answers a fixed error and changes nothing', async () => {
    const { dir, cleanup } = await tmpDir('rp-endpoints-none-');
    const up = await startCounting('plain');
    const socketPath = join(dir, 'run', 'admin.sock');
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      configYaml(
        `  - name: p\n    hosts: [p.test]\n    routes:\n      - path: /\n        upstream: ${up.url}\n`,
        '',
        `  socket: ${socketPath}`,
      ),
    );
    const proxy = await startProxy(path);
    try {
      const reply = await sendAdminCommand({
        socketPath,
        command: 'endpoints',
        expectedUids: [process.geteuid?.() ?? 0],
        timeoutMs: 10_000,
      });
      assert.deepEqual(reply, {
        status: 'error',
        message: 'no endpoint source: the proxy runs without --endpoints-file',
      });
      const audit = await proxy.waitForLog((l) => l.msg === 'admin request', { includePast: true });
      assert.equal(audit.command, 'endpoints');
      assert.equal(audit.outcome, 'error');
      assert.equal((await request(`${proxy.url}/`, { host: 'p.test' })).status, 200);
    } finally {
      await proxy.stop();
      await up.close();
      await cleanup();
    }
  });
});

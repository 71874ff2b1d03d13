import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { configYaml, request, startProxy, startUpstream, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { eventually } from '../sidecar-process.ts';
import { blackHole, closedPort, load, startCounting } from '../upstream-servers.ts';
import type { CountingUpstream } from '../upstream-servers.ts';

/** One site with one route at `/` whose keys (YAML under the route) the test gives. */
function routeSite(host: string, keys: string, path = '/'): string {
  const lines = keys.split('\n').map((l) => `        ${l}`);
  return `  - name: ${host.replaceAll('.', '-')}\n    hosts: [${host}]\n    routes:\n      - path: ${path}\n${lines.join('\n')}\n`;
}

const list = (...ups: { url: string }[]) =>
  `upstreams:\n${ups.map((u) => `  - url: ${u.url}`).join('\n')}`;

const HEALTH =
  'health_check: { path: /healthz, interval_ms: 100, timeout_ms: 500, healthy_threshold: 2, unhealthy_threshold: 2 }';

/** Sum of a counter's samples whose labels match all of `labels`. */
function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('upstream pools', () => {
  let proxy: ProxyProcess;
  let cleanup: () => Promise<void>;
  const ups: Record<string, CountingUpstream> = {};
  const others: { close(): Promise<void> }[] = [];
  const seen: http.IncomingHttpHeaders[] = [];
  let blackPort = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const get = (host: string, path = '/', options: Parameters<typeof request>[1] = {}) =>
    request(`${proxy.url}${path}`, { host, agent, ...options });
  const pick = <const N extends string[]>(...names: N) =>
    names.map((n) => {
      const up = ups[n];
      if (up === undefined) throw new Error(`no upstream ${n}`);
      return up;
    }) as { [K in keyof N]: CountingUpstream };
  const metrics = async () => (await request(`${proxy.healthUrl}/metrics`)).body;

  before(async () => {
    for (const name of ['a', 'b', 'c', 'w1', 'w2', 'x1', 'x2', 'x3', 'd1', 'd2', 'd3']) {
      ups[name] = await startCounting(name);
    }
    for (const name of ['h1', 'h2', 'p1', 'p2']) ups[name] = await startCounting(name);
    ups.slow = await startCounting('slow', (_req, res) => {
      setTimeout(() => res.end('slow'), 150);
      return true;
    });
    ups.fast = await startCounting('fast');
    ups.pool = await startCounting('pool', (req, res) => {
      // Slow only while the test opens the pool with a burst.
      setTimeout(() => res.end('pool'), req.url === '/burst' ? 200 : 0);
      return true;
    });
    for (const name of ['r1', 'r2']) {
      ups[name] = await startCounting(name, (req) => {
        // Reads the whole request (body included), then resets without answering.
        req.resume();
        req.on('end', () => req.socket.destroy());
        return true;
      });
    }
    ups.flaky = await startCounting('flaky', (req, res) => {
      if (req.url === '/reset') req.socket.destroy();
      else if (req.url === '/slow') setTimeout(() => res.end('late'), 1_000);
      else return false;
      return true;
    });
    const silent = await startUpstream('silent', () => undefined);
    const stalling = await startUpstream('stalling', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk ');
    });
    const echoHeaders = await startUpstream('headers', (req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { server: 'upstream/1.0', 'x-upstream': 'kept', 'x-powered-by': 'php' });
      res.end(`${req.url}`);
    });
    const ws = [1, 2].map(async (n) => {
      const up = await startUpstream(`ws${n}`, (_req, res) => res.end('not a websocket'));
      const wss = new WebSocketServer({ server: up.server });
      wss.on('connection', (socket) => socket.send(`ws${n}`));
      return up;
    });
    const [ws1, ws2] = (await Promise.all(ws)) as [Upstream, Upstream];
    const hole = await blackHole();
    blackPort = hole.port;
    others.push(silent, stalling, echoHeaders, ws1, ws2, hole);
    const refused = await Promise.all([closedPort(), closedPort(), closedPort()]);
    const [a, b, c, w1, w2, x1, x2, x3, d1, d2, d3, h1, h2, p1, p2, slow, fast, pool, r1, r2] =
      pick(
        'a',
        'b',
        'c',
        'w1',
        'w2',
        'x1',
        'x2',
        'x3',
        'd1',
        'd2',
        'd3',
        'h1',
        'h2',
        'p1',
        'p2',
        'slow',
        'fast',
        'pool',
        'r1',
        'r2',
      );
    const sites = [
      routeSite('rr.test', list(a, b, c)),
      routeSite(
        'weighted.test',
        `upstreams:\n  - { url: "${w1.url}", weight: 3 }\n  - { url: "${w2.url}", weight: 1 }`,
      ),
      routeSite('random.test', `${list(x1, x2, x3)}\nbalance: random`),
      routeSite('least.test', `${list(slow, fast)}\nbalance: least_request`),
      routeSite('dying.test', `${list(d1, d2, d3)}\nretries: { attempts: 2, budget_percent: 50 }`),
      routeSite('reset.test', `${list(r1, r2)}\nretries: { attempts: 2, budget_percent: 100 }`),
      routeSite(
        'budget.test',
        `upstreams:\n${refused.map((p) => `  - url: http://127.0.0.1:${p}`).join('\n')}\n` +
          'retries: { attempts: 2, budget_percent: 20 }',
      ),
      routeSite('health.test', `${list(h1, h2)}\n${HEALTH}`),
      routeSite('panic.test', `${list(p1, p2)}\n${HEALTH}`),
      routeSite('pool.test', `upstream: ${pool.url}`),
      routeSite(
        'connect.test',
        `upstream: http://127.0.0.1:${blackPort}\ntimeouts: { connect_ms: 300 }`,
      ),
      routeSite('response.test', `upstream: ${silent.url}\ntimeouts: { response_ms: 300 }`),
      routeSite('idle.test', `upstream: ${stalling.url}\ntimeouts: { idle_ms: 300 }`),
      routeSite('strip.test', `upstream: ${echoHeaders.url}\nstrip_prefix: true`, '/v1/'),
      routeSite(
        'rules.test',
        `upstream: ${echoHeaders.url}
request_headers:
  set: { X-Env: prod, Host: api.internal }
  add: { X-Added: rule }
  remove: [X-Debug]
response_headers:
  set: { Strict-Transport-Security: max-age=63072000 }
  add: { X-Upstream: rule }
  remove: [X-Powered-By]`,
      ),
      routeSite('ws.test', list(ws1, ws2)),
      routeSite(
        'flaky.test',
        `upstream: ${(ups.flaky as CountingUpstream).url}\npassive_health: { consecutive_failures: 2, ejection_ms: 60000 }`,
      ),
    ];
    const { dir, cleanup: rm } = await tmpDir();
    cleanup = rm;
    const path = join(dir, 'proxy.yaml');
    await writeConfig(path, configYaml(sites.join('')));
    // One process even under TEST_WORKERS: health, panic and pool rotation are per worker, and
    // these tests count them exactly.
    proxy = await startProxy(path, ['--workers', '1']);
  });

  after(async () => {
    agent.destroy();
    await proxy.stop();
    await Promise.all([...Object.values(ups), ...others].map((u) => u.close()));
    await cleanup();
  });

  it('round robin gives three upstreams equal shares', async () => {
    const [a, b, c] = pick('a', 'b', 'c');
    for (let i = 0; i < 300; i++) assert.equal((await get('rr.test')).status, 200);
    assert.deepEqual([a.served(), b.served(), c.served()], [100, 100, 100]);
  });

  it('honours 3:1 weights smoothly, never four in a row to the heavy one', async () => {
    const [w1, w2] = pick('w1', 'w2');
    const order: string[] = [];
    for (let i = 0; i < 400; i++) order.push((await get('weighted.test')).body.split(' ')[0] ?? '');
    assert.equal(w1.served(), 300);
    assert.equal(w2.served(), 100);
    assert.ok(!order.join(',').includes('w1,w1,w1,w1'), 'w2 gets its turn within every four');
  });

  it('random spreads within tolerance', async () => {
    const [x1, x2, x3] = pick('x1', 'x2', 'x3');
    for (let i = 0; i < 600; i++) await get('random.test');
    for (const up of [x1, x2, x3]) {
      assert.ok(up.served() > 130 && up.served() < 270, `${up.name} served ${up.served()}`);
    }
  });

  it('least_request sends more to the upstream that answers faster', async () => {
    const [slow, fast] = pick('slow', 'fast');
    const statuses = await load(async () => (await get('least.test')).status, 200, 8);
    assert.ok(statuses.every((s) => s === 200));
    assert.ok(fast.served() > 2 * slow.served(), `fast ${fast.served()} slow ${slow.served()}`);
  });

  it('an upstream that dies under load costs no failed GET when retries are on', async () => {
    const [d1, d2, d3] = pick('d1', 'd2', 'd3');
    let killed = false;
    const statuses = await load(
      async () => {
        if (!killed && d1.served() + d2.served() + d3.served() > 300) {
          killed = true;
          await d2.close(); // cuts its open connections: requests in flight are reset
        }
        return (await get('dying.test')).status;
      },
      1_200,
      16,
    );
    assert.ok(killed);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
    );
    const text = await metrics();
    assert.ok(metricSum(text, 'reverse_proxy_upstream_retries_total', { site: 'dying-test' }) > 0);
    assert.ok(
      metricSum(text, 'reverse_proxy_upstream_ejections_total', { upstream: d2.url }) >= 1,
      'passive health ejected the dead upstream',
    );
  });

  it('never replays a POST whose upstream reset after reading its body', async () => {
    const [r1, r2] = pick('r1', 'r2');
    const reply = await get('reset.test', '/order', { method: 'POST', body: 'pay 10 EUR' });
    assert.equal(reply.status, 502);
    assert.equal(r1.served() + r2.served(), 1, 'the upstreams saw exactly one attempt');
    // The control: the same failure on a GET is retried, on the other upstream first.
    r1.reset();
    r2.reset();
    assert.equal((await get('reset.test', '/read')).status, 502);
    assert.equal(r1.served() + r2.served(), 3, 'a GET: the first try and two retries');
    assert.ok(r1.served() >= 1 && r2.served() >= 1, 'the retry went to the other upstream');
  });

  it('the retry budget stops retries when every upstream fails', async () => {
    const statuses = await load(async () => (await get('budget.test')).status, 100, 1);
    assert.ok(statuses.every((s) => s === 502));
    const text = await metrics();
    const retries = metricSum(text, 'reverse_proxy_upstream_retries_total', {
      site: 'budget-test',
    });
    const refused = metricSum(text, 'reverse_proxy_upstream_retries_refused_total', {
      site: 'budget-test',
    });
    // 100 requests at 20% (plus a floor of 3), instead of 200 retries without a budget.
    assert.ok(retries <= 23, `retries ${retries}`);
    assert.ok(retries >= 3, `retries ${retries}`);
    assert.ok(refused >= 100 - 23, `refused ${refused}`);
  });

  it('active health removes an upstream and restores it', async () => {
    const [h1, h2] = pick('h1', 'h2');
    const healthy = async (up: CountingUpstream) =>
      metricSum(await metrics(), 'reverse_proxy_upstream_healthy', { upstream: up.url });
    await eventually('h2 probed and healthy', async () =>
      h2.probes() >= 2 && (await healthy(h2)) === 1 ? true : undefined,
    );
    h2.setHealth(503);
    await eventually('h2 unhealthy', async () => ((await healthy(h2)) === 0 ? true : undefined));
    h1.reset();
    h2.reset();
    for (let i = 0; i < 40; i++) assert.equal((await get('health.test')).status, 200);
    assert.equal(h2.served(), 0);
    assert.equal(h1.served(), 40);
    await proxy.waitForLog(
      (l) => l.msg === 'upstream unhealthy (health check)' && l.upstream === h2.url,
      {
        includePast: true,
      },
    );
    h2.setHealth(200);
    await eventually('h2 healthy again', async () =>
      (await healthy(h2)) === 1 ? true : undefined,
    );
    for (let i = 0; i < 40; i++) await get('health.test');
    assert.equal(h2.served(), 20);
  });

  it('when every upstream is unhealthy it tries them all anyway (panic) and says so', async () => {
    const [p1, p2] = pick('p1', 'p2');
    p1.setHealth(503);
    p2.setHealth(503);
    await eventually('both unhealthy', async () => {
      const text = await metrics();
      const sum =
        metricSum(text, 'reverse_proxy_upstream_healthy', { upstream: p1.url }) +
        metricSum(text, 'reverse_proxy_upstream_healthy', { upstream: p2.url });
      return sum === 0 && text.includes(p2.url) ? true : undefined;
    });
    for (let i = 0; i < 20; i++) assert.equal((await get('panic.test')).status, 200);
    assert.equal(p1.served() + p2.served(), 20);
    assert.ok(p1.served() > 0 && p2.served() > 0, 'both still get traffic');
    const text = await metrics();
    assert.equal(
      metricSum(text, 'reverse_proxy_route_panic_requests_total', { site: 'panic-test' }),
      20,
    );
    await proxy.waitForLog((l) => String(l.msg).includes('(panic)') && l.site === 'panic-test', {
      includePast: true,
    });
  });

  it('sequential requests to a single upstream rotate over its pooled connections', async () => {
    const [pool] = pick('pool');
    // A burst opens a dozen connections; then one request at a time.
    await Promise.all(Array.from({ length: 12 }, () => get('pool.test', '/burst')));
    const opened = pool.perSocket().size;
    assert.ok(opened >= 10, `the burst opened ${opened} connections`);
    pool.reset();
    for (let i = 0; i < 60; i++) assert.equal((await get('pool.test', '/one')).status, 200);
    const counts = [...pool.perSocket().values()];
    assert.ok(counts.length >= 10, `60 sequential requests used ${counts.length} connections`);
    assert.ok(Math.max(...counts) <= 7, `at most ${Math.max(...counts)} on one connection`);
  });

  it('each timeout phase answers or cuts as documented', async () => {
    const connect = await get('connect.test');
    assert.equal(connect.status, 504, 'no connection within connect_ms');
    const response = await get('response.test');
    assert.equal(response.status, 504, 'no response headers within response_ms');
    // Headers went out, then the body stalled past idle_ms: the client connection is cut.
    await assert.rejects(get('idle.test'), /aborted|socket hang up|ECONNRESET/);
    const text = await metrics();
    assert.equal(
      metricSum(text, 'reverse_proxy_upstream_failures_total', {
        upstream: `http://127.0.0.1:${blackPort}`,
        reason: 'connect_timeout',
      }),
      1,
    );
  });

  it('strip_prefix takes the route path off, keeping the query string', async () => {
    assert.equal((await get('strip.test', '/v1/users')).body, '/users');
    assert.equal((await get('strip.test', '/v1/users?page=2&q=a')).body, '/users?page=2&q=a');
    assert.equal((await get('strip.test', '/v1/')).body, '/');
    assert.equal((await get('strip.test', '/v1/?q=1')).body, '/?q=1');
  });

  it('header rules set, add and remove both ways', async () => {
    seen.length = 0;
    const reply = await get('rules.test', '/', {
      headers: { 'x-env': 'dev', 'x-added': 'client', 'x-debug': '1', 'x-other': 'kept' },
    });
    const up = seen[0] as http.IncomingHttpHeaders;
    assert.equal(up['x-env'], 'prod', 'set replaces the client value');
    assert.equal(up['x-added'], 'client, rule', 'add appends');
    assert.equal(up['x-debug'], undefined, 'remove');
    assert.equal(up['x-other'], 'kept');
    assert.equal(up.host, 'api.internal', 'Host can be set');
    assert.equal(up['x-forwarded-host'], 'rules.test', 'the client asked for rules.test');
    assert.equal(reply.headers['strict-transport-security'], 'max-age=63072000');
    assert.deepEqual(reply.headers['x-upstream'], 'kept, rule');
    assert.equal(reply.headers['x-powered-by'], undefined);
    assert.equal(reply.headers.server, 'upstream/1.0', 'untouched headers pass');
  });

  it('a client that leaves says nothing about the upstream: failures around it still count in a row', async () => {
    const [flaky] = pick('flaky');
    assert.equal((await get('flaky.test', '/reset')).status, 502);
    // The client gives up while the upstream still works on it: neither a failure nor a success.
    await new Promise<void>((resolve) => {
      const req = http.request(`${proxy.url}/slow`, { headers: { host: 'flaky.test' } });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    await eventually('the slow one reached the upstream', () =>
      flaky.served() >= 2 ? true : undefined,
    );
    assert.equal((await get('flaky.test', '/reset')).status, 502);
    const ejections = metricSum(await metrics(), 'reverse_proxy_upstream_ejections_total', {
      upstream: flaky.url,
    });
    assert.equal(ejections, 1, 'two failures in a row, the abandoned request between them');
  });

  it('WebSocket upgrades use the same balancing', async () => {
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/`, {
        headers: { host: 'ws.test' },
      });
      const data = await new Promise<string>((resolve, reject) => {
        socket.once('message', (message: Buffer) => resolve(message.toString()));
        socket.once('error', reject);
      });
      names.push(data);
      socket.close();
    }
    assert.deepEqual(names.sort(), ['ws1', 'ws1', 'ws2', 'ws2']);
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { configYaml, request, sha256Hex, startProxy, startUpstream, tmpDir } from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { closedPort } from '../upstream-servers.ts';

describe('proxying', () => {
  let proxy: ProxyProcess;
  let api: Upstream,
    wild: Upstream,
    fallback: Upstream,
    echo: Upstream,
    silent: Upstream,
    headers: Upstream,
    ws: Upstream;
  let cleanup: () => Promise<void>;
  const seenHeaders: http.IncomingHttpHeaders[] = [];

  before(async () => {
    api = await startUpstream('api');
    wild = await startUpstream('wild');
    fallback = await startUpstream('fallback');
    echo = await startUpstream('echo', (req, res) => {
      // Streams the body back and reports its hash in a trailer-free header-less way: echo it.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    silent = await startUpstream('silent', () => {
      /* never answers: the route's timeout must fire */
    });
    headers = await startUpstream('headers', (req, res) => {
      seenHeaders.push(req.headers);
      res.writeHead(200, {
        connection: 'keep-alive, x-upstream-hop',
        'x-upstream-hop': 'secret',
        'keep-alive': 'timeout=5',
        'x-kept': 'yes',
      });
      res.end('ok');
    });
    ws = await startUpstream('ws', (_req, res) => res.end('not a websocket'));
    const wss = new WebSocketServer({ server: ws.server });
    wss.on('connection', (socket) =>
      socket.on('message', (data) => socket.send(`echo:${data.toString()}`)),
    );
    const refused = await closedPort();
    const t = await tmpDir();
    cleanup = t.cleanup;
    const path = join(t.dir, 'proxy.yaml');
    await writeFile(
      path,
      configYaml(`  - name: api
    hosts: [api.example.com]
    routes:
      - { path: /, upstream: "${api.url}" }
      - { path: /v1/, upstream: "${api.url}/base" }
      - { path: /echo/, upstream: "${echo.url}" }
      - { path: /refused/, upstream: "http://127.0.0.1:${refused}" }
      - { path: /slow/, upstream: "${silent.url}", timeout_ms: 300 }
      - { path: /headers/, upstream: "${headers.url}" }
      - { path: /ws/, upstream: "${ws.url}" }
  - name: wild
    hosts: ["*.example.com"]
    routes:
      - { path: /, upstream: "${wild.url}" }
  - name: fallback
    hosts: ["*"]
    routes:
      - { path: /fallback/, upstream: "${fallback.url}" }
`),
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all([api, wild, fallback, echo, silent, headers, ws].map((u) => u?.close()));
    await cleanup?.();
  });

  it('routes by exact host and longest prefix, prepending the upstream path', async () => {
    assert.equal(
      (await request(`${proxy.url}/x?q=1`, { host: 'api.example.com' })).body,
      'api GET /x?q=1',
    );
    assert.equal(
      (await request(`${proxy.url}/v1/users`, { host: 'API.example.com:80' })).body,
      'api GET /base/v1/users',
    );
  });

  it('routes wildcard hosts and the catch-all', async () => {
    assert.equal((await request(`${proxy.url}/`, { host: 'www.example.com' })).body, 'wild GET /');
    assert.equal(
      (await request(`${proxy.url}/fallback/a`, { host: 'elsewhere.org' })).body,
      'fallback GET /fallback/a',
    );
  });

  it('answers 404 with a short JSON body when nothing matches', async () => {
    const reply = await request(`${proxy.url}/nope`, { host: 'elsewhere.org' });
    assert.equal(reply.status, 404);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(reply.body), {
      status: 404,
      error: 'no_route',
      message: 'no route for this host and path',
    });
  });

  it('refuses dot segments that would escape a prefix', async () => {
    const escape = (rawPath: string) => request(proxy.url, { host: 'elsewhere.org', rawPath });
    assert.equal((await escape('/fallback/../admin')).status, 400);
    assert.equal((await escape('/fallback/%2e%2E/admin')).status, 400);
    assert.equal((await escape('/fallback/..')).status, 400);
    assert.equal(
      (await escape('/fallback/a..b')).body,
      'fallback GET /fallback/a..b',
      'dots inside a name are fine',
    );
  });

  it('answers 502 when the upstream refuses, naming no address', async () => {
    const reply = await request(`${proxy.url}/refused/`, { host: 'api.example.com' });
    assert.equal(reply.status, 502);
    assert.equal(JSON.parse(reply.body).error, 'bad_gateway');
    assert.doesNotMatch(reply.body, /127\.0\.0\.1|ECONNREFUSED|\d{4,5}/);
    const line = await proxy.waitForLog(
      (l) => l.msg === 'upstream request failed' && l.reason === 'refused',
      {
        includePast: true,
      },
    );
    assert.match(String(line.upstream), /^http:\/\/127\.0\.0\.1:\d+$/, 'the log keeps the detail');
  });

  it('answers 504 when the upstream stays silent past the route timeout', async () => {
    const reply = await request(`${proxy.url}/slow/`, { host: 'api.example.com' });
    assert.equal(reply.status, 504);
    assert.equal(JSON.parse(reply.body).error, 'gateway_timeout');
  });

  it(
    'bounds an Expect: 100-continue request to a silent upstream too',
    { timeout: 5_000 },
    async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          `${proxy.url}/slow/`,
          {
            method: 'POST',
            headers: { host: 'api.example.com', expect: '100-continue' },
            agent: false,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('continue', () => req.end('body'));
        req.on('error', reject);
      });
      // One engine: the Expect path has the same timeout, and the same 504, as any other.
      assert.equal(status, 504);
    },
  );

  it('sets X-Forwarded-* and removes hop-by-hop headers both ways', async () => {
    const reply = await request(`${proxy.url}/headers/`, {
      host: 'api.example.com',
      headers: {
        connection: 'keep-alive, x-client-hop',
        'x-client-hop': 'secret',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        'proxy-authorization': 'Basic Zm9v',
      },
    });
    assert.equal(reply.status, 200);
    const seen = seenHeaders.at(-1) as http.IncomingHttpHeaders;
    assert.equal(seen['x-client-hop'], undefined);
    assert.equal(seen['proxy-authorization'], undefined);
    // The test client is outside trusted_proxies (empty): its claims are replaced.
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], 'api.example.com');
    assert.equal(seen.host, 'api.example.com', 'the Host header is passed through');
    assert.equal(reply.headers['x-upstream-hop'], undefined);
    assert.equal(reply.headers['keep-alive'] === 'timeout=5', false);
    assert.equal(reply.headers['x-kept'], 'yes');
  });

  it('streams a 1 MB request body and response body intact', async () => {
    const body = randomBytes(1024 * 1024);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request(
        `${proxy.url}/echo/`,
        { method: 'POST', headers: { host: 'api.example.com' }, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
        },
      );
      req.on('error', reject);
      // Written in pieces without a content-length: chunked all the way through.
      for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
      req.end();
    });
    assert.equal(reply.length, body.length);
    assert.equal(sha256Hex(reply), sha256Hex(body));
  });

  it('proxies a WebSocket upgrade and echoes messages both ways', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws/chat`, {
      headers: { host: 'api.example.com' },
    });
    const received = await new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send('hello'));
      socket.on('message', (data) => resolve(data.toString()));
      socket.on('error', reject);
    });
    socket.close();
    assert.equal(received, 'echo:hello');
  });

  it('refuses a WebSocket upgrade without a route', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/none`, {
      headers: { host: 'elsewhere.org' },
    });
    const status = await new Promise<number>((resolve) => {
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('error', () => resolve(-1));
    });
    assert.equal(status, 404);
  });

  it('counts requests by site, route and status class in /metrics', async () => {
    const text = (await request(`${proxy.healthUrl}/metrics`)).body;
    assert.match(
      text,
      /reverse_proxy_requests_total\{site="api",route="\/",status_class="2xx"\} \d+/,
    );
    assert.match(
      text,
      /reverse_proxy_upstream_errors_total\{site="api",route="\/refused\/",reason="refused"\} 1/,
    );
    assert.match(
      text,
      /reverse_proxy_upstream_errors_total\{site="api",route="\/slow\/",reason="timeout"\} 2/,
    );
    assert.match(text, /reverse_proxy_request_duration_seconds_bucket/);
    assert.match(text, /reverse_proxy_config_generation 1/);
    assert.match(text, /process_resident_memory_bytes/);
  });

  it('serves /livez, /readyz and an empty /health', async () => {
    assert.equal((await request(`${proxy.healthUrl}/livez`)).status, 200);
    const ready = await request(`${proxy.healthUrl}/readyz`);
    assert.equal(ready.status, 200);
    const health = await request(`${proxy.healthUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body, '');
  });
});

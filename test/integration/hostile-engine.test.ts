import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configYaml, request, startProxy, tmpDir } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';
import { rawExchange, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import { eventually } from '../sidecar-process.ts';

/**
 * What the hostile corpus found in the node:http engine (issue 17), attacked over raw sockets
 * against raw recording upstreams now that the proxy owns its HTTP/1.1 codec.
 */
describe('the engine against the corpus findings', () => {
  let proxy: ProxyProcess;
  let cleanup: () => Promise<void>;
  let a: RecordingUpstream, b: RecordingUpstream;

  before(async () => {
    a = await startRecordingUpstream();
    b = await startRecordingUpstream();
    const t = await tmpDir();
    cleanup = t.cleanup;
    const path = join(t.dir, 'proxy.yaml');
    await writeFile(
      path,
      configYaml(`  - name: edge
    hosts: ["*"]
    routes:
      - path: /
        upstreams: [{ url: "${a.url}" }, { url: "${b.url}" }]
        passive_health: { consecutive_failures: 5, ejection_ms: 30000 }
`),
    );
    // The engine is strict whatever Node's own lenience flag says: every test here runs with it.
    proxy = await startProxy(path, [], {
      env: { ...process.env, NODE_OPTIONS: '--insecure-http-parser' },
    });
  });

  after(async () => {
    await proxy.stop();
    // Nothing the attacks left behind (a refused handshake, a lingering close) holds the drain
    // until the grace period cuts it.
    assert.ok(
      proxy.logs.some((l) => l.msg === 'stopped: drained'),
      `shutdown: ${proxy.logs
        .map((l) => String(l.msg))
        .slice(-2)
        .join(', ')}`,
    );
    await a.close();
    await b.close();
    await cleanup();
  });

  const upstreamBytes = () => a.requests.length + b.requests.length;

  it('a client that breaks its own chunked body never opens an upstream exchange nor ejects one', async () => {
    const accepted = a.accepted() + b.accepted();
    const seen = upstreamBytes();
    for (let i = 0; i < 20; i++) {
      const reply = await rawExchange(
        proxy.port,
        'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      );
      assert.deepEqual(reply.statuses, [400]);
      assert.equal(reply.closed, true);
    }
    assert.equal(upstreamBytes(), seen, 'the upstreams received nothing');
    assert.equal(a.accepted() + b.accepted(), accepted, 'no upstream connection was opened');
    const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
    assert.doesNotMatch(metrics, /reverse_proxy_upstream_healthy\{[^}]*\} 0/);
    assert.doesNotMatch(metrics, /reverse_proxy_upstream_failures_total\{/);
    assert.ok(!proxy.logs.some((l) => String(l.msg).includes('ejected')));
  });

  for (const coding of ['identity, chunked', ',chunked']) {
    it(`answers 501 to Transfer-Encoding: ${coding} and closes, forwarding nothing after it`, async () => {
      const seen = upstreamBytes();
      const reply = await rawExchange(
        proxy.port,
        `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${coding}\r\n\r\n0\r\n\r\n` +
          'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.deepEqual(reply.statuses, [501]);
      assert.match(reply.text, /connection: close/i);
      assert.equal(reply.closed, true);
      assert.equal(upstreamBytes(), seen, 'neither request reached an upstream');
    });
  }

  it('answers a valid request before the bad bytes after it, then refuses and closes (Garden G45)', async () => {
    const seen = a.requests.length + b.requests.length;
    const reply = await rawExchange(
      proxy.port,
      'GET /public/first HTTP/1.1\r\nHost: public.test\r\n\r\nInvalid\r\n\r\n',
      { expect: 2 },
    );
    assert.deepEqual(reply.statuses, [200, 400]);
    assert.equal(reply.closed, true);
    const targets = [...a.requests, ...b.requests].slice(seen).map((r) => r.target);
    assert.deepEqual(targets, ['/public/first']);
  });

  it('answers the request that said Connection: close and nothing pipelined after it', async () => {
    const seen = upstreamBytes();
    const reply = await rawExchange(
      proxy.port,
      'GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' +
        'GET /second HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    assert.deepEqual(reply.statuses, [200]);
    assert.match(reply.text, /connection: close/i);
    assert.equal(reply.closed, true);
    assert.equal(upstreamBytes(), seen + 1);
  });

  for (const [what, bytes] of [
    ['a bare LF', 'GET /lf HTTP/1.1\nHost: a\n\n'],
    ['obs-fold', 'GET /fold HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n'],
    [
      'Content-Length beside Transfer-Encoding',
      'POST /clte HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
  ] as const) {
    it(`refuses ${what} with 400 under --insecure-http-parser, forwarding nothing`, async () => {
      const seen = upstreamBytes();
      const reply = await rawExchange(proxy.port, bytes);
      assert.deepEqual(reply.statuses, [400]);
      assert.equal(reply.closed, true);
      assert.equal(upstreamBytes(), seen);
    });
  }

  it("refuses an HTTP/1.1 request without Host (400), and gives an HTTP/1.0 one the upstream's", async () => {
    const seen = upstreamBytes();
    const reply = await rawExchange(proxy.port, 'GET /nohost HTTP/1.1\r\n\r\n');
    assert.deepEqual(reply.statuses, [400]);
    assert.match(reply.text, /"error":"bad_host"/);
    assert.equal(upstreamBytes(), seen);
    const old = await rawExchange(proxy.port, 'GET /ten-nohost HTTP/1.0\r\n\r\n');
    assert.deepEqual(old.statuses, [200]);
    const sent = [...a.requests, ...b.requests].find((r) => r.target === '/ten-nohost');
    assert.match(sent?.header('host') ?? '', /^127\.0\.0\.1:\d+$/);
  });

  it('sends Content-Length upstream as a plain number (0003 -> 3)', async () => {
    const reply = await rawExchange(
      proxy.port,
      'POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 0003\r\n\r\nabc',
    );
    assert.deepEqual(reply.statuses, [200]);
    const sent = [...a.requests, ...b.requests].find((r) => r.target === '/cl');
    assert.equal(sent?.header('content-length'), '3');
    assert.equal(sent?.body.toString(), 'abc');
  });

  it('reads a large Content-Length body by counting it, then the request pipelined after it', async () => {
    const body = 'y'.repeat(20_000);
    const reply = await rawExchange(
      proxy.port,
      `POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
        'GET /after-big HTTP/1.1\r\nHost: a\r\n\r\n',
      { expect: 2 },
    );
    assert.deepEqual(reply.statuses, [200, 200]);
    const all = [...a.requests, ...b.requests];
    assert.equal(all.find((r) => r.target === '/big')?.body.toString(), body);
    assert.ok(all.some((r) => r.target === '/after-big'));
  });

  it('answers 501 to a single unknown coding (Transfer-Encoding: identity) and closes', async () => {
    const reply = await rawExchange(
      proxy.port,
      'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n1\r\nZ\r\n0\r\n\r\n',
    );
    assert.deepEqual(reply.statuses, [501]);
    assert.equal(reply.closed, true);
  });

  it('refuses more than 100 header lines with 431, however short they are', async () => {
    const seen = upstreamBytes();
    const lines = Array.from({ length: 101 }, (_, i) => `a${i}:\r\n`).join('');
    const reply = await rawExchange(proxy.port, `GET /many HTTP/1.1\r\nHost: a\r\n${lines}\r\n`);
    assert.deepEqual(reply.statuses, [431]);
    assert.equal(reply.closed, true);
    assert.equal(upstreamBytes(), seen);
  });

  it('survives clients that reset right after a refused WebSocket handshake (fuzz finding)', async () => {
    for (let i = 0; i < 50; i++) {
      const socket = net.connect(proxy.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: a,b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      );
      socket.resetAndDestroy();
    }
    const reply = await rawExchange(proxy.port, 'GET /alive HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.deepEqual(reply.statuses, [200]);
    assert.equal(proxy.child.exitCode, null);
  });

  it('closes after refusing a request whose chunked body is still arriving (fuzz finding)', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = once(socket, 'close');
    socket.write('POST / HTTP/1.1\r\nHost: a,b\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nZ\r\n');
    await eventually('the refusal', () => (text.includes('bad_host') ? true : undefined));
    assert.match(text, /connection: close/i);
    socket.end('0\r\n\r\n');
    await closed; // before the fix: never (the proxy kept the socket paused and open)
  });

  it('refuses a request head over 16 KB with 431', async () => {
    const reply = await rawExchange(
      proxy.port,
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`,
    );
    assert.deepEqual(reply.statuses, [431]);
    assert.equal(reply.closed, true);
  });

  it('serves an HTTP/1.0 client: its body delimited by the close, no chunking', async () => {
    const reply = await rawExchange(proxy.port, 'GET /ten HTTP/1.0\r\nHost: a\r\n\r\n');
    assert.deepEqual(reply.statuses, [200]);
    assert.doesNotMatch(reply.text, /transfer-encoding/i);
    assert.equal(reply.closed, true);
  });
});

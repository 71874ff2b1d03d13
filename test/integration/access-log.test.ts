import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCertificate } from '../certs.ts';
import { request, startProxy, startUpstream, tmpDir, writeConfig } from '../helpers.ts';
import type { LogLine, ProxyProcess, Upstream } from '../helpers.ts';
import { closedPort } from '../upstream-servers.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Issue 19: an access line for every response, the proxy's own included, with the fields
 * operators look for; and request identity (X-Request-Id, W3C traceparent) end to end.
 */
describe('access log and request identity', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let echo: Upstream;
  let proxy: ProxyProcess;
  let tlsPort: number;
  /** What the upstream saw of each request, by the id the proxy sent it. */
  const seen = new Map<string, Record<string, string | string[] | undefined>>();

  const line = async (requestId: string): Promise<LogLine> =>
    proxy.waitForLog((l) => l.access === true && l.request_id === requestId, {
      includePast: true,
      timeoutMs: 5_000,
    });

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    echo = await startUpstream('echo', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.set(String(req.headers['x-request-id']), req.headers);
        res.writeHead(200, { 'content-type': 'text/plain', 'x-request-id': 'upstream-echo' });
        res.end(`got ${Buffer.concat(chunks).length}`);
      });
    });
    const cert = makeCertificate(dir, 'a', ['a.test']);
    const dead = await closedPort();
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
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
trusted_proxies: [127.0.0.2/32]
log:
  access_log: true
sites:
  - name: a
    hosts: [a.test]
    routes:
      - { path: /, upstream: "${echo.url}" }
      - { path: /dead/, upstream: "http://127.0.0.1:${dead}" }
  - name: r
    hosts: [r.test]
    https_redirect: true
    routes:
      - { path: /, upstream: "${echo.url}" }
`,
    );
    proxy = await startProxy(path);
    const started = proxy.logs.find((l) => l.msg === 'proxy started');
    tlsPort = Number(
      String((started?.listeners as string[])[1])
        .split(':')
        .pop(),
    );
  });

  after(async () => {
    await proxy.stop();
    await echo.close();
    await cleanup();
  });

  it('logs a routed request with client, protocol, bytes, agent, upstream, its time and attempts', async () => {
    const reply = await request(`${proxy.url}/upload?x=1`, {
      host: 'a.test',
      method: 'POST',
      body: 'x'.repeat(1000),
      headers: { 'user-agent': 'probe/1.0', referer: 'https://ref.example/' },
    });
    assert.equal(reply.status, 200);
    const id = String(reply.headers['x-request-id']);
    assert.match(id, UUID, 'generated for a client outside trusted_proxies');
    assert.equal(seen.get(id)?.['x-request-id'], id, 'the upstream got the same id');
    const l = await line(id);
    assert.equal(l.client, '127.0.0.1');
    assert.equal(l.peer, '127.0.0.1');
    assert.equal(l.protocol, 'HTTP/1.1');
    assert.equal(l.method, 'POST');
    assert.equal(l.host, 'a.test');
    assert.equal(l.url, '/upload?x=1');
    assert.equal(l.status, 200);
    assert.equal(l.bytes_received, 1000);
    assert.equal(l.bytes_sent, 'got 1000'.length);
    assert.equal(l.user_agent, 'probe/1.0');
    assert.equal(l.referer, 'https://ref.example/');
    assert.equal(l.site, 'a');
    assert.equal(l.route, '/');
    assert.equal(l.upstream, echo.url);
    assert.equal(l.attempts, 1);
    assert.equal(typeof l.upstream_ms, 'number');
    assert.equal(typeof l.ms, 'number');
    assert.match(String(l.trace_id), /^[0-9a-f]{32}$/);
  });

  it('logs the responses the proxy makes itself: unknown host, refused path, TRACE, redirect, upstream down', async () => {
    const cases: [string, Parameters<typeof request>[1], number, string][] = [
      ['/x', { host: 'nobody.test' }, 404, 'no_route'],
      [
        '/a/%2e%2e/%2e%2e/etc',
        { host: 'a.test', rawPath: '/a/%2e%2e/%2e%2e/etc' },
        400,
        'bad_request',
      ],
      ['/', { host: 'a.test', method: 'TRACE' }, 405, 'method_not_allowed'],
      ['/y', { host: 'r.test' }, 308, 'https_redirect'],
      ['/dead/x', { host: 'a.test' }, 502, 'refused'],
    ];
    for (const [path, options, status, reason] of cases) {
      const reply = await request(`${proxy.url}${path}`, options);
      assert.equal(reply.status, status, path);
      const id = String(reply.headers['x-request-id']);
      assert.match(id, UUID, `${path}: every response carries the request id`);
      const l = await line(id);
      assert.equal(l.status, status);
      assert.equal(l.reason, reason);
      assert.equal(l.method, options?.method ?? 'GET');
    }
    // The upstream failure's warning names the request too.
    const failed = proxy.logs.find((l) => l.msg === 'upstream request failed');
    assert.match(String(failed?.request_id), UUID);
  });

  it('logs what the HTTP/1.1 codec refuses before a request exists', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    await once(socket, 'close');
    assert.match(text, /^HTTP\/1\.1 400 /);
    const l = await proxy.waitForLog(
      (x) =>
        x.access === true &&
        x.status === 400 &&
        x.reason === 'bad_request' &&
        x.method === undefined,
      { includePast: true },
    );
    assert.equal(l.client, '127.0.0.1');
  });

  it('logs HTTP/2 requests as such', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, {
      servername: 'a.test',
      rejectUnauthorized: false,
    });
    const stream = session.request({ ':path': '/h2', ':authority': 'a.test' });
    stream.resume();
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    await once(stream, 'end');
    session.close();
    const id = String(headers['x-request-id']);
    assert.match(id, UUID);
    const l = await line(id);
    assert.equal(l.protocol, 'HTTP/2');
    assert.equal(l.status, 200);
  });

  it('keeps X-Request-Id only from a trusted peer, and resolves its client through X-Forwarded-For', async () => {
    const untrusted = await request(`${proxy.url}/`, {
      host: 'a.test',
      headers: { 'x-request-id': 'planted-id' },
    });
    assert.match(String(untrusted.headers['x-request-id']), UUID, 'replaced for an untrusted peer');
    // 127.0.0.2 is in trusted_proxies: it speaks for the clients behind it.
    const trusted = await fromAddress('127.0.0.2', {
      'x-request-id': 'lb-7f3a',
      'x-forwarded-for': '198.51.100.7, 127.0.0.2',
    });
    assert.equal(trusted.headers['x-request-id'], 'lb-7f3a');
    assert.equal(seen.get('lb-7f3a')?.['x-request-id'], 'lb-7f3a');
    const l = await line('lb-7f3a');
    assert.equal(l.peer, '127.0.0.2');
    assert.equal(l.client, '198.51.100.7', 'the right-most untrusted address of the chain');
    const junk = await fromAddress('127.0.0.2', { 'x-request-id': 'has spaces and "quotes"' });
    assert.match(
      String(junk.headers['x-request-id']),
      UUID,
      'an unusable id is replaced even from a trusted peer',
    );
  });

  it('passes a valid traceparent on, replaces an invalid one, and starts one when missing', async () => {
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const kept = await request(`${proxy.url}/`, {
      host: 'a.test',
      headers: { traceparent: valid, tracestate: 'vendor=1' },
    });
    const keptId = String(kept.headers['x-request-id']);
    assert.equal(seen.get(keptId)?.traceparent, valid);
    assert.equal(seen.get(keptId)?.tracestate, 'vendor=1');
    assert.equal((await line(keptId)).trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');

    for (const bad of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      'garbage',
    ]) {
      const replaced = await request(`${proxy.url}/`, {
        host: 'a.test',
        headers: { traceparent: bad, tracestate: 'vendor=1' },
      });
      const id = String(replaced.headers['x-request-id']);
      const sent = String(seen.get(id)?.traceparent);
      const match = TRACEPARENT.exec(sent);
      assert.ok(match, `${bad}: replaced by a valid one (${sent})`);
      assert.notEqual(match[1], '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.equal(seen.get(id)?.tracestate, undefined, 'tracestate goes with its traceparent');
      assert.equal((await line(id)).trace_id, match[1]);
    }
    const started = await request(`${proxy.url}/`, { host: 'a.test' });
    const startedId = String(started.headers['x-request-id']);
    const match = TRACEPARENT.exec(String(seen.get(startedId)?.traceparent));
    assert.ok(match, 'a trace is started');
    assert.equal((await line(startedId)).trace_id, match[1]);
  });

  /** A GET to a.test from a given loopback source address. */
  function fromAddress(
    localAddress: string,
    headers: Record<string, string>,
  ): Promise<{ headers: Record<string, string | string[] | undefined> }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port: proxy.port, host: '127.0.0.1', localAddress });
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => {
        const head = text.slice(0, text.indexOf('\r\n\r\n'));
        const parsed: Record<string, string> = {};
        for (const row of head.split('\r\n').slice(1)) {
          const colon = row.indexOf(':');
          parsed[row.slice(0, colon).toLowerCase()] = row.slice(colon + 1).trim();
        }
        resolve({ headers: parsed });
      });
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`GET / HTTP/1.1\r\nHost: a.test\r\n${extra}Connection: close\r\n\r\n`);
    });
  }
});

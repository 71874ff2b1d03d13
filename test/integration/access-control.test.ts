import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sendFrom, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import { startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';

const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

/**
 * Issue 20: access lists on the client address as trusted_proxies resolve it, and body limits
 * by Content-Length and by stream. The upstream is a raw recorder: it must see nothing of a
 * refused request, and never more body than the limit.
 */
describe('access lists and body limits', () => {
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
trusted_proxies: [127.0.0.9/32]
sites:
  - name: a
    hosts: [a.test]
    access:
      deny: [127.0.0.3/32]
      allow: [127.0.0.0/29, 198.51.100.0/24]
    max_body_bytes: 100
    routes:
      - { path: /, upstream: "${up.url}" }
      - path: /open/
        upstream: "${up.url}"
        access: { deny: [127.0.0.4/32] }
      - path: /big/
        upstream: "${up.url}"
        max_body_bytes: 1000
`,
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  const get = (path: string, from: string, extra = '') =>
    sendFrom(
      proxy.port,
      `GET ${path} HTTP/1.1\r\nHost: a.test\r\n${extra}Connection: close\r\n\r\n`,
      from,
    );

  it('denies first, then allows only the listed networks: 403, and the upstream sees nothing', async () => {
    const before = up.requests.length;
    assert.equal(status(await get('/', '127.0.0.1')), 200);
    assert.equal(status(await get('/', '127.0.0.3')), 403, 'in deny, though inside allow');
    assert.equal(status(await get('/', '127.0.0.12')), 403, 'outside allow');
    assert.equal(up.requests.length, before + 1, 'only the allowed request reached the upstream');
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(
      metrics,
      /reverse_proxy_refusals_total\{site="a",route="\/",reason="forbidden"\} 2\b/,
    );
  });

  it("a route's access replaces its site's", async () => {
    assert.equal(status(await get('/open/x', '127.0.0.12')), 200, 'the site allow list is gone');
    assert.equal(status(await get('/open/x', '127.0.0.4')), 403);
  });

  it('judges the client as trusted_proxies resolve it: a forged X-Forwarded-For changes nothing', async () => {
    // From an untrusted peer, X-Forwarded-For is the client's own claim: ignored.
    const forged = await get('/', '127.0.0.12', 'X-Forwarded-For: 198.51.100.7\r\n');
    assert.equal(status(forged), 403);
    // From the trusted load balancer, its X-Forwarded-For names the client.
    assert.equal(status(await get('/', '127.0.0.9', 'X-Forwarded-For: 198.51.100.7\r\n')), 200);
    assert.equal(status(await get('/', '127.0.0.9', 'X-Forwarded-For: 203.0.113.5\r\n')), 403);
  });

  it('refuses a body over max_body_bytes by Content-Length with 413 before the upstream sees a byte', async () => {
    const before = up.requests.length;
    const reply = await sendFrom(
      proxy.port,
      `POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 101\r\n\r\n${'x'.repeat(101)}`,
    );
    assert.equal(status(reply), 413);
    assert.match(reply, /connection: close/i);
    assert.equal(up.requests.length, before);
    const ok = await sendFrom(
      proxy.port,
      `POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\nConnection: close\r\n\r\n${'x'.repeat(100)}`,
    );
    assert.equal(status(ok), 200);
  });

  it('cuts a chunked body that passes the limit: 413, and the upstream never gets more than the limit', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = once(socket, 'close');
    socket.write('POST /big/up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = `${(400).toString(16)}\r\n${'y'.repeat(400)}\r\n`;
    for (let i = 0; i < 4 && !socket.destroyed; i++) {
      socket.write(chunk);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await closed;
    assert.equal(status(text), 413);
    // Every byte the upstream got, on every connection: the body's y's never pass the limit.
    let received = 0;
    for (let c = 0; c < up.accepted(); c++) {
      received += [...up.received(c).toString('latin1')].filter((ch) => ch === 'y').length;
    }
    assert.ok(received > 0 && received <= 1000, `the upstream received ${received} body bytes`);
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(metrics, /reason="body_too_large"\} 1\b/);
  });
});

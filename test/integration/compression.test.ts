import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import http2 from 'node:http2';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { brotliDecompressSync, createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { makeCertificate } from '../certs.ts';
import { startProxy, startUpstream, tmpDir, writeConfig } from '../helpers.ts';
import type { LogLine, ProxyProcess, Upstream } from '../helpers.ts';

/** A page that compresses as HTML does: varied words, repeated markup. */
function page(bytes: number): Buffer {
  const words = ['proxy', 'route', 'header', 'stream', 'client', 'upstream', 'body', 'cache'];
  let text = '<!doctype html><html><body>\n';
  for (let i = 0; text.length < bytes; i++) {
    text += `<p class="row-${i % 7}">${words[i % 8]} ${words[(i * 5) % 8]} ${i * 7919}</p>\n`;
  }
  return Buffer.from(text.slice(0, bytes));
}

const HTML = page(20_000);
const BIG = page(4 * 1024 * 1024);
const PNG = Buffer.alloc(20_000, 7);
/** Text that barely compresses: what a stalled reader cannot absorb in socket buffers. */
const NOISE = Buffer.from(randomBytes(6 * 1024 * 1024).toString('base64'));

interface Got {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

function decoded(got: Got): Buffer {
  const coding = got.headers['content-encoding'];
  if (coding === 'gzip') return gunzipSync(got.body);
  if (coding === 'br') return brotliDecompressSync(got.body);
  return got.body;
}

/**
 * Issue 21: `compress: true` in front of a real upstream, through the real proxy. Bodies are
 * decompressed by Node's zlib and compared byte for byte with what the upstream sent.
 */
describe('compress: true', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: Upstream;
  let proxy: ProxyProcess;
  let tlsPort: number;
  /** Released by the streaming test once the client has decoded the first piece. */
  let releaseStream: (() => void) | undefined;
  let bigClosed: Promise<unknown> | undefined;
  let stalledUpstream: Promise<unknown> | undefined;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    const cert = makeCertificate(dir, 'a', ['a.test']);
    up = await startUpstream('up', (req, res) => {
      const url = req.url ?? '/';
      const html = { 'content-type': 'text/html; charset=utf-8' };
      const sized = (body: Buffer) => ({ ...html, 'content-length': body.length });
      if (url === '/html') {
        res.writeHead(200, {
          ...sized(HTML),
          etag: '"v1"',
          'accept-ranges': 'bytes',
          vary: 'Origin',
        });
        res.end(req.method === 'HEAD' ? undefined : HTML);
      } else if (url === '/png') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length });
        res.end(PNG);
      } else if (url === '/json') {
        res.writeHead(200, { 'content-type': 'Application/JSON' });
        res.end(HTML);
      } else if (url === '/encoded') {
        res.writeHead(200, { ...html, 'content-encoding': 'gzip' });
        res.end(gzipSync(HTML));
      } else if (url === '/small') {
        res.writeHead(200, sized(HTML.subarray(0, 1000)));
        res.end(HTML.subarray(0, 1000));
      } else if (url === '/range') {
        res.writeHead(206, {
          ...sized(HTML.subarray(0, 5000)),
          'content-range': `bytes 0-4999/${HTML.length}`,
        });
        res.end(HTML.subarray(0, 5000));
      } else if (url === '/no-transform') {
        res.writeHead(200, { ...sized(HTML), 'cache-control': 'max-age=60, no-transform' });
        res.end(HTML);
      } else if (url === '/chunked') {
        // No Content-Length: chunked from the upstream, in pieces over time.
        res.writeHead(200, html);
        let sent = 0;
        const next = () => {
          if (sent >= HTML.length) return res.end();
          res.write(HTML.subarray(sent, sent + 3000));
          sent += 3000;
          setTimeout(next, 5);
        };
        next();
      } else if (url === '/slow') {
        // One piece, then nothing until the client has shown it got that piece decoded.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first piece\n'.repeat(200));
        releaseStream = () => res.end('last piece\n');
      } else if (url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${'x'.repeat(5000)}\n\n`);
      } else if (url === '/noise') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': NOISE.length });
        const socket = req.socket;
        stalledUpstream = new Promise((resolve) => socket.once('close', resolve));
        res.end(NOISE);
      } else if (url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        // The upstream connection closes only when the proxy aborts it (else it is pooled).
        if (req.headers['x-leave'] !== undefined) {
          const socket = req.socket;
          bigClosed = new Promise((resolve) => socket.once('close', resolve));
        }
        res.end(BIG);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('nothing here');
      }
    });
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
log:
  access_log: true
sites:
  - name: a
    hosts: [a.test]
    routes:
      - { path: /, upstream: "${up.url}", compress: true }
      - { path: /plain/, upstream: "${up.url}", strip_prefix: true }
      - path: /stall/
        upstream: "${up.url}"
        strip_prefix: true
        compress: true
        timeouts: { idle_ms: 300 }
`,
    );
    proxy = await startProxy(path);
    const listeners = proxy.logs.find((l) => l.msg === 'proxy started')?.listeners as string[];
    const second = String(listeners[1]);
    tlsPort = Number(second.slice(second.lastIndexOf(':') + 1));
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  const get = (path: string, acceptEncoding?: string, method = 'GET') =>
    new Promise<Got>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { host: 'a.test' };
      if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding;
      const req = http.request(`${proxy.url}${path}`, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

  it('compresses HTML with gzip: chunked, no length, weak ETag, Vary merged, same bytes', async () => {
    const got = await get('/html', 'gzip');
    assert.equal(got.status, 200);
    assert.equal(got.headers['content-encoding'], 'gzip');
    assert.equal(got.headers['content-length'], undefined);
    assert.equal(got.headers['transfer-encoding'], 'chunked');
    assert.equal(got.headers['accept-ranges'], undefined);
    assert.equal(got.headers.etag, 'W/"v1"');
    assert.equal(got.headers.vary, 'Origin, Accept-Encoding');
    assert.ok(got.body.length < HTML.length / 3, `${got.body.length} bytes on the wire`);
    assert.ok(decoded(got).equals(HTML));
  });

  it('compresses by type: JSON in any case yes, PNG and event streams no', async () => {
    const json = await get('/json', 'gzip');
    assert.equal(json.headers['content-encoding'], 'gzip');
    assert.ok(decoded(json).equals(HTML));
    const png = await get('/png', 'gzip, br');
    assert.equal(png.headers['content-encoding'], undefined);
    assert.equal(png.headers.vary, undefined, 'nothing varies for a type never compressed');
    assert.equal(png.headers['content-length'], String(PNG.length));
    assert.ok(png.body.equals(PNG));
    const events = await get('/events', 'gzip');
    assert.equal(events.headers['content-encoding'], undefined);
  });

  it('negotiates: gzip only, br only, weights, q=0, identity, none', async () => {
    const cases: [string | undefined, string | undefined][] = [
      ['gzip', 'gzip'],
      ['br', 'br'],
      ['gzip, deflate, br', 'br'],
      ['br;q=0.4, gzip;q=0.8', 'gzip'],
      ['br;q=0, gzip', 'gzip'],
      ['br;q=0, gzip;q=0', undefined],
      ['identity', undefined],
      ['gzip;q=0.5, identity', undefined],
      ['*', 'br'],
      [undefined, undefined],
    ];
    for (const [accept, coding] of cases) {
      const got = await get('/html', accept);
      assert.equal(got.headers['content-encoding'], coding, `Accept-Encoding: ${accept}`);
      assert.equal(got.headers.vary, 'Origin, Accept-Encoding', 'Vary whatever was chosen');
      assert.ok(decoded(got).equals(HTML), `Accept-Encoding: ${accept}`);
      if (coding === undefined) assert.equal(got.headers['content-length'], String(HTML.length));
    }
  });

  it('passes an already encoded body through untouched, never encoding it twice', async () => {
    const got = await get('/encoded', 'br, gzip');
    assert.equal(got.headers['content-encoding'], 'gzip');
    assert.ok(got.body.equals(gzipSync(HTML)), 'the upstream bytes as they were');
    assert.ok(gunzipSync(got.body).equals(HTML));
  });

  it('leaves small bodies, ranges and no-transform as they are', async () => {
    for (const path of ['/small', '/range', '/no-transform']) {
      const got = await get(path, 'gzip, br');
      assert.equal(got.headers['content-encoding'], undefined, path);
      assert.equal(got.headers['content-length'], String(got.body.length), path);
    }
    assert.equal((await get('/range', 'gzip')).status, 206);
  });

  it('answers HEAD with the headers GET would get: Content-Encoding, no length, no body', async () => {
    const got = await get('/html', 'gzip', 'HEAD');
    assert.equal(got.status, 200);
    assert.equal(got.headers['content-encoding'], 'gzip');
    assert.equal(got.headers['content-length'], undefined);
    assert.equal(got.headers.vary, 'Origin, Accept-Encoding');
    assert.equal(got.body.length, 0);
  });

  it('compresses a chunked body of unknown length; logs and counts the bytes that went out', async () => {
    const got = await get('/chunked', 'br');
    assert.equal(got.headers['content-encoding'], 'br');
    assert.ok(decoded(got).equals(HTML));
    const id = String(got.headers['x-request-id']);
    const line: LogLine = await proxy.waitForLog((l) => l.access === true && l.request_id === id, {
      includePast: true,
      timeoutMs: 5_000,
    });
    assert.equal(line.bytes_sent, got.body.length, 'bytes_sent is what the client received');
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(metrics)?.[1]);
    assert.ok(
      value('reverse_proxy_compressed_responses_total{site="a",route="/",encoding="br"}') >= 1,
    );
    const bytesIn = value('reverse_proxy_compression_bytes_total{site="a",route="/",stage="in"}');
    const bytesOut = value('reverse_proxy_compression_bytes_total{site="a",route="/",stage="out"}');
    assert.ok(bytesIn > 2 * bytesOut && bytesOut > 0, `${bytesIn} in, ${bytesOut} out`);
  });

  it('does not compress a route without the key', async () => {
    const got = await get('/plain/html', 'gzip');
    assert.equal(got.headers['content-encoding'], undefined);
    assert.equal(got.headers.vary, 'Origin');
  });

  it('flushes each piece: a stream that pauses reaches the client before it ends', async () => {
    const gunzip = createGunzip();
    let text = '';
    const firstDecoded = new Promise<void>((resolve) => {
      gunzip.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('first piece')) resolve();
      });
    });
    const done = once(gunzip, 'end');
    const req = http.request(`${proxy.url}/slow`, {
      headers: { host: 'a.test', 'accept-encoding': 'gzip' },
      agent: false,
    });
    req.on('response', (res) => {
      assert.equal(res.headers['content-encoding'], 'gzip');
      res.pipe(gunzip);
    });
    req.end();
    await firstDecoded; // would time out if the compressor held the piece back
    releaseStream?.();
    await done;
    assert.equal(text, `${'first piece\n'.repeat(200)}last piece\n`);
  });

  it('a client leaving mid-body ends the upstream exchange, and the next request is served', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${proxy.url}/big`, {
        headers: { host: 'a.test', 'accept-encoding': 'gzip', 'x-leave': '1' },
        agent: false,
      });
      req.on('response', (res) => {
        assert.equal(res.headers['content-encoding'], 'gzip');
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('close', () => resolve());
      setTimeout(() => reject(new Error('no body')), 5_000).unref();
      req.end();
    });
    await bigClosed; // the proxy let the upstream response go (its connection aborted)
    const got = await get('/html', 'gzip');
    assert.ok(decoded(got).equals(HTML));
  });

  it('a slow reader gets a large body whole: the compressor waits for it', async () => {
    const got = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request(`${proxy.url}/big`, {
        headers: { host: 'a.test', 'accept-encoding': 'gzip' },
        agent: false,
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        setTimeout(() => res.resume(), 300);
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      });
      req.on('error', reject);
      req.end();
    });
    assert.ok(gunzipSync(got).equals(BIG));
  });

  it('a client that stops reading holds the exchange only until idle_ms cuts it', async () => {
    const client = net.connect(proxy.port, '127.0.0.1');
    client.write('GET /stall/noise HTTP/1.1\r\nHost: a.test\r\nAccept-Encoding: gzip\r\n\r\n');
    client.once('data', () => client.pause()); // the head and a little body, then nothing
    try {
      await once(client, 'data');
      // The upstream is paused by backpressure, goes silent, and the route's idle_ms ends the
      // exchange: its connection closes (with it the compressor and the client connection).
      await stalledUpstream;
      const got = await get('/html', 'gzip');
      assert.ok(decoded(got).equals(HTML));
    } finally {
      client.destroy();
    }
  });

  it('compresses over HTTP/2 too: no content-length, the same bytes', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, {
      servername: 'a.test',
      rejectUnauthorized: false,
    });
    try {
      const exchange = (method: string, accept: string) =>
        new Promise<Got>((resolve, reject) => {
          const stream = session.request({
            ':method': method,
            ':path': '/html',
            ':authority': 'a.test',
            'accept-encoding': accept,
          });
          let headers: http.IncomingHttpHeaders = {};
          const chunks: Buffer[] = [];
          stream.on('response', (h) => (headers = h as http.IncomingHttpHeaders));
          stream.on('data', (d: Buffer) => chunks.push(d));
          stream.on('end', () =>
            resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }),
          );
          stream.on('error', reject);
          stream.end();
        });
      const [br, gzip, head] = await Promise.all([
        exchange('GET', 'br'),
        exchange('GET', 'gzip;q=1, br;q=0.1'),
        exchange('HEAD', 'br'),
      ]);
      assert.equal(br.headers['content-encoding'], 'br');
      assert.equal(br.headers['content-length'], undefined);
      assert.ok(decoded(br).equals(HTML));
      assert.equal(gzip.headers['content-encoding'], 'gzip');
      assert.ok(decoded(gzip).equals(HTML));
      assert.equal(head.headers['content-encoding'], 'br');
      assert.equal(head.body.length, 0);
    } finally {
      session.close();
    }
  });
});

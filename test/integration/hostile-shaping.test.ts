import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { rawExchange } from '../raw-http.ts';
import { startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';

const HTML = `<html>${'<p>shaped</p>'.repeat(300)}</html>`;

/**
 * Issue 21's response and request shaping (compression, CORS, regex rewrites) against what a
 * hostile or broken upstream sends, over raw sockets both ways: the shaping must not bring back
 * a header the framing removed, turn a cut body into a complete one, or disturb the framing of
 * requests pipelined through a rewrite. The upstream is a raw server that answers each target
 * with fixed bytes, and can close mid-body.
 */
describe('shaped routes against raw upstream replies', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let upstream: net.Server;
  let proxy: ProxyProcess;
  const received: string[] = [];

  /** target -> the bytes answered, and whether the connection closes after them. */
  const REPLIES: Record<string, { bytes: string; close?: boolean; closeAfterMs?: number }> = {
    '/z/hop': {
      bytes:
        'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: X-Secret\r\n' +
        `X-Secret: s3cret\r\nContent-Length: ${HTML.length}\r\n\r\n${HTML}`,
    },
    '/z/cut': {
      bytes: `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9000\r\n\r\n${HTML.slice(0, 2000)}`,
      // Long enough for the first piece to be compressed and sent before the cut.
      closeAfterMs: 200,
    },
    '/z/103': {
      bytes:
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
        `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${HTML.length}\r\n\r\n${HTML}`,
    },
    '/z/both': {
      bytes:
        'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n',
      close: true,
    },
    '/c/x': {
      bytes:
        'HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\n' +
        'Connection: Access-Control-Allow-Credentials\r\nAccess-Control-Allow-Credentials: true\r\n' +
        'Content-Length: 2\r\n\r\nok',
    },
  };

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    upstream = net.createServer((socket) => {
      socket.on('error', () => socket.destroy());
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (;;) {
          const end = pending.indexOf('\r\n\r\n');
          if (end === -1) return;
          const head = pending.slice(0, end);
          const target = head.split(' ')[1] ?? '';
          let length = end + 4;
          const chunked = /\r\ntransfer-encoding: chunked/i.test(head);
          if (chunked) {
            const last = pending.indexOf('\r\n0\r\n\r\n', end);
            if (last === -1) return;
            length = last + 7;
          }
          received.push(pending.slice(0, length));
          pending = pending.slice(length);
          const reply = REPLIES[target] ?? {
            bytes: `HTTP/1.1 200 OK\r\nContent-Length: ${target.length}\r\n\r\n${target}`,
          };
          socket.write(reply.bytes);
          if (reply.close === true) socket.end();
          if (reply.closeAfterMs !== undefined) setTimeout(() => socket.end(), reply.closeAfterMs);
        }
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
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
  - name: s
    hosts: [s.test]
    routes:
      - { path: /z/, upstream: "${url}", compress: true, passive_health: { consecutive_failures: 0 } }
      - { path: /c/, upstream: "${url}", cors: { allow_origins: ["https://app.test"] } }
      - { path: '^/r/([a-z]+)$', path_match: regex, rewrite: { path: '/rw/$1' }, upstream: "${url}" }
`,
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    upstream.close();
    await cleanup();
  });

  const get = (target: string, extra = '', idleMs = 200) =>
    rawExchange(
      proxy.port,
      `GET ${target} HTTP/1.1\r\nHost: s.test\r\nAccept-Encoding: gzip\r\n${extra}Connection: close\r\n\r\n`,
      { idleMs },
    );
  /** The final response's chunked body, unchunked; undefined when its last chunk never came. */
  const unchunk = (bytes: Buffer): Buffer | undefined => {
    const final = bytes.indexOf('HTTP/1.1 200');
    if (final === -1) return undefined;
    let at = bytes.indexOf('\r\n\r\n', final) + 4;
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = bytes.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = Number.parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size) || bytes.length < lineEnd + 2 + size + 2) return undefined;
      if (size === 0) return Buffer.concat(parts);
      parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  };

  it('compresses without bringing back a header the upstream named in Connection', async () => {
    const reply = await get('/z/hop');
    assert.deepEqual(reply.statuses, [200]);
    assert.doesNotMatch(reply.text, /x-secret|s3cret/i);
    assert.match(reply.text, /\r\ncontent-encoding: gzip\r\n/i);
    assert.match(reply.text, /\r\ntransfer-encoding: chunked\r\n/i);
    assert.doesNotMatch(reply.text.slice(0, reply.text.indexOf('\r\n\r\n')), /content-length/i);
    const body = unchunk(reply.bytes);
    assert.ok(body !== undefined, 'a complete chunked body');
    assert.equal(gunzipSync(body).toString('latin1'), HTML);
  });

  it('a body the upstream cut is cut for the client too: never a complete compressed body', async () => {
    // Waits past the upstream's cut: until then the response is merely slow.
    const reply = await get('/z/cut', '', 2_000);
    assert.deepEqual(reply.statuses, [200]);
    assert.match(reply.text, /\r\ncontent-encoding: gzip\r\n/i);
    assert.ok(reply.closed, 'the client connection is closed');
    assert.equal(unchunk(reply.bytes), undefined, 'no last chunk: the client sees a cut');
  });

  it('relays 103 Early Hints, then compresses the final response', async () => {
    const reply = await get('/z/103');
    assert.deepEqual(reply.statuses, [103, 200]);
    assert.match(reply.text, /link: <\/a\.css>; rel=preload/i);
    assert.equal(gunzipSync(unchunk(reply.bytes) as Buffer).toString('latin1'), HTML);
  });

  it('answers a reply framed two ways with a clean 502, nothing compressed', async () => {
    const reply = await get('/z/both');
    assert.deepEqual(reply.statuses, [502]);
    assert.doesNotMatch(reply.text, /content-encoding/i);
    assert.doesNotMatch(reply.text, /abcd/);
  });

  it("CORS replaces the upstream's Access-Control headers, even one named in its Connection", async () => {
    const reply = await get('/c/x', 'Origin: https://app.test\r\n');
    assert.deepEqual(reply.statuses, [200]);
    const origins = reply.text.match(/\r\naccess-control-allow-origin: [^\r]*/gi) ?? [];
    assert.deepEqual(
      origins.map((h) => h.trim().toLowerCase()),
      ['access-control-allow-origin: https://app.test'],
    );
    assert.doesNotMatch(reply.text, /access-control-allow-credentials/i);
  });

  it('rewrites pipelined requests one by one, their bodies and framing intact', async () => {
    const before = received.length;
    const reply = await rawExchange(
      proxy.port,
      'GET /r/a HTTP/1.1\r\nHost: s.test\r\n\r\n' +
        'POST /r/b?x=1 HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5\r\nhello\r\n0\r\n\r\n' +
        'GET /r/c HTTP/1.1\r\nHost: s.test\r\nConnection: close\r\n\r\n',
      { expect: 3 },
    );
    assert.deepEqual(reply.statuses, [200, 200, 200]);
    assert.match(reply.text, /\/rw\/a[\s\S]*\/rw\/b\?x=1[\s\S]*\/rw\/c$/);
    const seen = received.slice(before);
    assert.deepEqual(
      seen.map((r) => r.split(' ').slice(0, 2).join(' ')),
      ['GET /rw/a', 'POST /rw/b?x=1', 'GET /rw/c'],
    );
    assert.match(seen[1] as string, /\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
  });
});

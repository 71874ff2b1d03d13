import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { configYaml, startProxy, startUpstream, tmpDir } from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { statusesOf } from '../raw-http.ts';
import { eventually } from '../sidecar-process.ts';

/**
 * What issue 10 guaranteed of a client connection's life, now that the proxy's own HTTP/1.1
 * connection owns it (issue 17): keep-alive and whole-request deadlines, and WebSocket tunnels
 * that outlive the config they were opened under.
 */
describe('the engine: connection deadlines and tunnels across reloads', () => {
  let proxy: ProxyProcess;
  let cleanup: () => Promise<void>;
  let ws: Upstream, other: Upstream, sink: Upstream;
  let path: string;
  const client = `client:
  header_timeout_ms: 1000
  request_timeout_ms: 2000
  body_idle_timeout_ms: 60000
  body_min_rate_bytes_per_s: 0
  keepalive_timeout_ms: 1000
`;
  const routes = (upstream: string) => `  - name: edge
    hosts: ["*"]
    routes:
      - { path: /, upstream: "${upstream}" }
      - { path: /slow, upstream: "${sink.url}" }
`;

  before(async () => {
    ws = await startUpstream('ws', (_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ server: ws.server });
    wss.on('connection', (socket) =>
      socket.on('message', (data) => socket.send(`echo:${data.toString()}`)),
    );
    other = await startUpstream('other', (_req, res) => res.end('other'));
    // Answers once the whole body arrived, as an upload handler does.
    sink = await startUpstream('sink', (req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => res.end('got'));
    });
    const t = await tmpDir();
    cleanup = t.cleanup;
    path = join(t.dir, 'proxy.yaml');
    await writeFile(path, configYaml(routes(ws.url), client));
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    await ws.close();
    await other.close();
    await sink.close();
    await cleanup();
  });

  it('keeps a WebSocket open and working across a reload that moves its route', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/chat`, {
      headers: { host: 'a.test' },
    });
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(data.toString()));
    await once(socket, 'open');
    socket.send('before');
    await eventually('the first echo', () => (messages.length === 1 ? true : undefined));
    await writeFile(path, configYaml(routes(other.url), client));
    const outcome = await proxy.reload();
    assert.match(String(outcome.msg), /reload/);
    socket.send('after');
    await eventually('the echo after the reload', () => (messages.length === 2 ? true : undefined));
    assert.deepEqual(messages, ['echo:before', 'echo:after']);
    socket.close();
    await writeFile(path, configYaml(routes(ws.url), client));
    await proxy.reload();
  });

  it('closes an idle keep-alive connection once keepalive_timeout_ms has passed', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write('GET /one HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await eventually('the response', () => (statusesOf(text).length === 1 ? true : undefined));
    // Held idle: the proxy closes it (within a second after the 1 s timeout), not the client.
    await once(socket, 'close');
    assert.deepEqual(statusesOf(text), [200]);
  });

  it('answers 408 and closes a request whose body outlasts request_timeout_ms', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write('POST /slow HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n');
    // Never idle (a byte every 200 ms), never done: only the whole-request deadline ends it.
    const trickle = setInterval(() => socket.writable && socket.write('x'), 200);
    await once(socket, 'close');
    clearInterval(trickle);
    assert.deepEqual(statusesOf(text), [408]);
  });
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { ClientConnection, ResponseHandler } from '../../../src/http1/client-connection.ts';
import type { UpstreamError } from '../../../src/http1/upstream-error.ts';
import { OriginPool } from '../../../src/upstream/origin-pool.ts';
import type { Waiter } from '../../../src/upstream/origin-pool.ts';
import { eventually } from '../../sidecar-process.ts';

/** A raw upstream answering every request with `reply(connectionIndex)`. */
async function rawUpstream(reply: (connection: number) => string) {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const n = accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      if (chunk.includes('\r\n\r\n')) socket.write(reply(n));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

interface Outcome {
  status?: number;
  body: string;
  error?: UpstreamError;
  connection?: ClientConnection;
}

/** One GET through the pool, resolved when the exchange ends. */
function get(pool: OriginPool): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '' };
    const handler: ResponseHandler = {
      onInterim: () => undefined,
      onHead: (status) => (out.status = status),
      onData: (chunk) => (out.body += chunk.toString()),
      onEnd: () => resolve(out),
      onUpgrade: (_s, _h, socket) => socket.destroy(),
      onError: (error) => resolve({ ...out, error }),
    };
    const plan = {
      body: 'none',
      expectBody: true,
      upgrade: false,
      responseMs: 2000,
      idleMs: 2000,
    } as const;
    const waiter: Waiter = {
      granted(connection) {
        out.connection = connection;
        connection.send('GET / HTTP/1.1\r\nhost: t\r\n\r\n', plan, handler);
      },
      refused: (error) => resolve({ ...out, error }),
    };
    const got = pool.acquire(1000, waiter);
    if (got === 'busy') resolve({ body: '', error: { failure: 'busy' } as UpstreamError });
    else if (got !== 'queued') waiter.granted(got);
  });
}

const limits = { maxConnections: 4, maxQueued: 2, idleTimeoutMs: 2000 };

describe('OriginPool and ClientConnection', () => {
  const closers: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const close of closers) await close();
  });

  it('hands each request the connection idle longest, so sequential requests rotate', async () => {
    const up = await rawUpstream((n) => `HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${n}`);
    const pool = new OriginPool(up.origin, limits);
    closers.push(
      () => pool.close(),
      () => up.close(),
    );
    // Three at once open three connections...
    const first = await Promise.all([get(pool), get(pool), get(pool)]);
    assert.deepEqual(
      first.map((o) => o.status),
      [200, 200, 200],
    );
    // ...and one at a time then rotates over all three, never the same one twice in a row.
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await get(pool)).body);
    assert.equal(up.accepted(), 3);
    for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], seen.join(','));
    assert.equal(new Set(seen).size, 3);
  });

  it('refuses at once (busy) when every connection is taken and the queue is full', async () => {
    const up = await rawUpstream(() => ''); // never answers
    const pool = new OriginPool(up.origin, { ...limits, maxConnections: 1, maxQueued: 1 });
    closers.push(
      () => pool.close(),
      () => up.close(),
    );
    void get(pool);
    void get(pool);
    const third = await get(pool);
    assert.equal(third.error?.failure, 'busy');
    assert.equal(pool.figures().queued, 1);
  });

  it('a response that does not parse is a protocol failure, and its connection is not reused', async () => {
    const up = await rawUpstream(
      () => 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
    );
    const pool = new OriginPool(up.origin, limits);
    closers.push(
      () => pool.close(),
      () => up.close(),
    );
    const out = await get(pool);
    assert.equal(out.error?.failure, 'protocol');
    assert.equal(out.connection?.socket.destroyed, true);
    await eventually('the pool forgot it', () =>
      pool.figures().connected === 0 ? true : undefined,
    );
  });

  it('never reuses a connection the upstream sent more than the response on', async () => {
    const up = await rawUpstream(
      () =>
        'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil',
    );
    const pool = new OriginPool(up.origin, limits);
    closers.push(
      () => pool.close(),
      () => up.close(),
    );
    const a = await get(pool);
    assert.deepEqual([a.status, a.body], [200, 'ok']);
    const b = await get(pool);
    assert.deepEqual([b.status, b.body], [200, 'ok']);
    assert.notEqual(a.connection, b.connection, 'the out-of-step connection was dropped');
  });

  it('counts a large Content-Length body across reads; one cut short is a reset', async () => {
    const body = 'x'.repeat(9_000); // past COUNT_FROM_BYTES: counted, not parsed
    const sockets: net.Socket[] = [];
    let cut = false;
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('data', () => {
        const head = `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`;
        if (cut) return void socket.end(head + body.slice(0, 4_000));
        socket.write(head + body.slice(0, 100));
        setTimeout(() => socket.write(body.slice(100, 5_000)), 20);
        setTimeout(() => socket.write(`${body.slice(5_000)}HTTP/1.1 200 OK\r\n`), 40);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const pool = new OriginPool(origin, limits);
    closers.push(
      () => pool.close(),
      () => {
        for (const s of sockets) s.destroy();
        server.close();
      },
    );
    const whole = await get(pool);
    assert.deepEqual([whole.status, whole.body.length, whole.error], [200, 9_000, undefined]);
    assert.equal(whole.body, body);
    // Bytes after the counted body: that connection is never used again.
    await eventually('dropped', () =>
      whole.connection?.socket.destroyed === true ? true : undefined,
    );
    cut = true;
    const short = await get(pool);
    assert.equal(short.body.length, 4_000);
    assert.equal(short.error?.failure, 'reset');
  });

  it('classifies a refused connection and a status outside 100-599', async () => {
    const closed = await rawUpstream(() => '');
    const origin = closed.origin;
    await closed.close();
    const pool = new OriginPool(origin, limits);
    closers.push(() => pool.close());
    assert.equal((await get(pool)).error?.failure, 'refused');
    const odd = await rawUpstream(() => 'HTTP/1.1 600 Odd\r\ncontent-length: 0\r\n\r\n');
    const oddPool = new OriginPool(odd.origin, limits);
    closers.push(
      () => oddPool.close(),
      () => odd.close(),
    );
    assert.equal((await get(oddPool)).error?.failure, 'protocol');
  });
});

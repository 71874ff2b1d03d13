import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { drainAcceptQueue } from '../../../src/proxy/accept-queue.ts';
import { holdLoopWhileHandshaking } from '../../helpers.ts';

const linux = process.platform === 'linux';

interface Burst {
  /** 'connection' events seen before the event loop's next turn after the first of them. */
  readonly inFirstTurn: number;
  readonly clients: Socket[];
}

/** Opens `count` connections while the loop is held, then counts how many the first turn takes. */
async function burst(server: http.Server, count: number): Promise<Burst> {
  const { port } = server.address() as AddressInfo;
  let seen = 0;
  let inFirstTurn = -1;
  const firstTurn = new Promise<void>((resolve) => {
    server.on('connection', () => {
      seen++;
      if (seen === 1) {
        setImmediate(() => {
          inFirstTurn = seen;
          resolve();
        });
      }
    });
  });
  const clients = Array.from({ length: count }, () => net.connect(port, '127.0.0.1'));
  await holdLoopWhileHandshaking();
  await firstTurn;
  return { inFirstTurn, clients };
}

async function listening(server: http.Server): Promise<void> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
}

describe('drainAcceptQueue', { skip: linux ? false : 'accept4 is bound on Linux only' }, () => {
  const servers: http.Server[] = [];
  after(() => {
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) s.close();
  });

  it('takes a whole burst in one turn where libuv alone takes one connection per turn', async () => {
    const plain = http.createServer();
    servers.push(plain);
    await listening(plain);
    const before = await burst(plain, 40);
    // The behaviour this module exists for: if libuv ever accepts in a loop again, this fails
    // and the module can go.
    assert.equal(before.inFirstTurn, 1);

    const drained = http.createServer();
    servers.push(drained);
    const adopted: Socket[] = [];
    assert.equal(
      drainAcceptQueue(drained, (s) => adopted.push(s)),
      true,
    );
    await listening(drained);
    const after = await burst(drained, 40);
    assert.equal(after.inFirstTurn, 40);
    assert.equal(adopted.length, 39, 'libuv accepted one, the drain the other 39');
    for (const c of [...before.clients, ...after.clients]) c.destroy();
  });

  it('serves HTTP on adopted sockets like on any other, with the client address', async () => {
    const server = http.createServer((req, res) => {
      res.end(`${req.socket.remoteAddress} ${req.url}`);
    });
    servers.push(server);
    let adopted = 0;
    drainAcceptQueue(server, () => adopted++);
    await listening(server);
    const { port } = server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true });
    const get = (i: number) =>
      new Promise<string>((resolve, reject) => {
        http
          .get({ port, host: '127.0.0.1', path: `/r${i}`, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c: string) => (body += c));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    const pending = Array.from({ length: 20 }, (_, i) => get(i));
    await holdLoopWhileHandshaking();
    const bodies = await Promise.all(pending);
    assert.deepEqual(
      bodies,
      Array.from({ length: 20 }, (_, i) => `127.0.0.1 /r${i}`),
    );
    assert.ok(adopted > 0, 'some requests were served on adopted sockets');
    agent.destroy();
  });
});

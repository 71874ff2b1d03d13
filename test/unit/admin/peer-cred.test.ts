import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { assertServerUid, getPeerCredentials } from '../../../src/admin/peer-cred.ts';
import { isProxyError } from '../../../src/errors.ts';
import { createNodeForOtherUids } from '../../node-for-other-uids.ts';
import type { NodeForOtherUids } from '../../node-for-other-uids.ts';
import { spawnUntilReady } from '../../spawn-ready.ts';

const OTHER_UID = 4242;
const NEEDS_ROOT =
  process.getuid?.() === 0 ? false : 'needs root to spawn a child with another uid';

let dir: string;
const cleanups: (() => unknown)[] = [];
// The checkout's node may sit where other uids cannot reach it (a 0700 home): spawnAs uses a copy.
let otherUidNode: NodeForOtherUids;

before(async () => {
  otherUidNode = await createNodeForOtherUids();
});
after(() => otherUidNode.cleanup());

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'peer-cred-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => isProxyError(err) && err.code === code;
}

/** Listens on a Unix socket; `nextConnection()` must be called before the client connects. */
async function unixServer(
  socketPath: string,
): Promise<{ nextConnection: () => Promise<net.Socket> }> {
  const server = net.createServer();
  const sockets: net.Socket[] = [];
  server.on('connection', (s) => sockets.push(s));
  server.listen(socketPath);
  await once(server, 'listening');
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    nextConnection: async () => ((await once(server, 'connection')) as [net.Socket])[0],
  };
}

/** Runs a node child as `uid` and waits for it to print "ready". */
function spawnAs(uid: number, script: string, ...args: string[]): Promise<ChildProcess> {
  const options = { node: otherUidNode.path, uid, gid: uid, cwd: os.tmpdir() };
  return spawnUntilReady(script, args, options, cleanups);
}

const CONNECT_AND_WAIT = `
const c = require('node:net').connect(process.argv[1], () => console.log('ready'));
c.on('close', () => process.exit(0));`;

const LISTEN = `
const server = require('node:net').createServer((s) => s.on('error', () => {}));
server.listen(process.argv[1], () => console.log('ready'));`;

test('reads its own uid, gid and pid on both ends of a Unix socket connection', async () => {
  const socketPath = path.join(dir, 'self.sock');
  const { nextConnection } = await unixServer(socketPath);
  const accepted = nextConnection();
  const client = net.connect(socketPath);
  cleanups.push(() => client.destroy());
  const [serverSide] = await Promise.all([accepted, once(client, 'connect')]);
  const me = { uid: process.getuid?.(), gid: process.getgid?.(), pid: process.pid };
  assert.deepEqual({ ...getPeerCredentials(serverSide) }, me);
  assert.deepEqual({ ...getPeerCredentials(client) }, me);
});

test(
  'server side reports the uid, gid and pid of a client running as another uid',
  { skip: NEEDS_ROOT },
  async () => {
    await chmod(dir, 0o755); // the other uid must reach the socket: this test only
    const socketPath = path.join(dir, 'admin.sock');
    const { nextConnection } = await unixServer(socketPath);
    await chmod(socketPath, 0o777);
    const accepted = nextConnection();
    const child = await spawnAs(OTHER_UID, CONNECT_AND_WAIT, socketPath);
    const serverSide = await accepted;
    assert.deepEqual(
      { ...getPeerCredentials(serverSide) },
      { uid: OTHER_UID, gid: OTHER_UID, pid: child.pid },
    );
  },
);

test(
  'client side sees the uid of the process serving the socket and refuses an unexpected one',
  { skip: NEEDS_ROOT },
  async () => {
    await chown(dir, OTHER_UID, OTHER_UID); // the other uid creates its socket here: this test only
    const socketPath = path.join(dir, 'planted.sock');
    const child = await spawnAs(OTHER_UID, LISTEN, socketPath);
    const client = net.connect(socketPath);
    cleanups.push(() => client.destroy());
    await once(client, 'connect');
    assert.deepEqual(
      { ...getPeerCredentials(client) },
      { uid: OTHER_UID, gid: OTHER_UID, pid: child.pid },
    );
    assert.throws(() => assertServerUid(client, [0]), hasCode('ERR_ADMIN_SERVER_UNTRUSTED'));
    assert.equal(assertServerUid(client, [0, OTHER_UID]).uid, OTHER_UID);
  },
);

test('refuses a TCP socket, which has no peer credentials, instead of returning a bogus uid', async () => {
  const server = net.createServer((s) => s.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  cleanups.push(() => client.destroy());
  await once(client, 'connect');
  assert.throws(() => getPeerCredentials(client), hasCode('ERR_PEER_CRED_UNAVAILABLE'));
});

test('refuses a destroyed socket, whose file descriptor is gone', async () => {
  const socketPath = path.join(dir, 'closed.sock');
  await unixServer(socketPath);
  const client = net.connect(socketPath);
  await once(client, 'connect');
  client.destroy();
  assert.throws(() => getPeerCredentials(client), hasCode('ERR_PEER_CRED_UNAVAILABLE'));
});

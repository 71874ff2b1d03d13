import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { lstatSync } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  ensureSocketDir,
  listenRestricted,
  removeStaleSocket,
} from '../../../src/admin/socket-dir.ts';
import { isProxyError } from '../../../src/errors.ts';
import { spawnUntilReady } from '../../spawn-ready.ts';

const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'needs root to chown to another uid';
const me = process.geteuid?.() ?? -1;

let tmp: string;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'socket-dir-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(tmp, { recursive: true, force: true });
});

function rejectsWith(code: string, ...inMessage: string[]): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isProxyError(err), `expected a ProxyError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const part of inMessage)
      assert.ok(err.message.includes(part), `${err.message} lacks ${part}`);
    return true;
  };
}

const modeOf = async (p: string): Promise<number> => (await lstat(p)).mode & 0o7777;

function withUmask(mask: number): void {
  const previous = process.umask(mask);
  cleanups.push(() => process.umask(previous));
}

/** Runs a node child listening on `socketPath`, resolved once it printed "ready". */
async function childListening(socketPath: string): Promise<ChildProcess> {
  const script = `require('node:net').createServer((s) => s.on('error', () => {}))
    .listen(process.argv[1], () => console.log('ready'));`;
  return spawnUntilReady(script, [socketPath], {}, cleanups);
}

async function canConnect(socketPath: string): Promise<boolean> {
  const conn = net.connect(socketPath);
  try {
    await once(conn, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    conn.destroy();
  }
}

describe('ensureSocketDir', () => {
  test('creates a missing directory with mode 0700 owned by the process, even with umask 0', async () => {
    withUmask(0);
    const dir = path.join(tmp, 'run');
    await ensureSocketDir(dir);
    const st = await lstat(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o7777, 0o700);
    assert.equal(st.uid, me);
  });

  test('accepts an existing 0700 directory owned by the process', async () => {
    const dir = path.join(tmp, 'run');
    await mkdir(dir, { mode: 0o700 });
    await ensureSocketDir(dir);
  });

  test('refuses a symlink to a directory, even to a 0700 directory it owns', async () => {
    const real = path.join(tmp, 'real');
    await mkdir(real, { mode: 0o700 });
    const link = path.join(tmp, 'run');
    await symlink(real, link);
    await assert.rejects(
      ensureSocketDir(link),
      rejectsWith('ERR_SOCKET_DIR_INSECURE', link, 'is a symlink'),
    );
  });

  test('refuses a 0777 directory and says to chmod 700', async () => {
    const dir = path.join(tmp, 'run');
    await mkdir(dir);
    await chmod(dir, 0o777);
    await assert.rejects(
      ensureSocketDir(dir),
      rejectsWith('ERR_SOCKET_DIR_INSECURE', dir, 'has mode 0777', `chmod 700 ${dir}`),
    );
  });

  test('refuses a 0750 directory (group access)', async () => {
    const dir = path.join(tmp, 'run');
    await mkdir(dir);
    await chmod(dir, 0o750);
    await assert.rejects(
      ensureSocketDir(dir),
      rejectsWith('ERR_SOCKET_DIR_INSECURE', 'has mode 0750'),
    );
  });

  test(
    'refuses a 0700 directory owned by another uid and says to chown it',
    { skip: NEEDS_ROOT },
    async () => {
      const dir = path.join(tmp, 'run');
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, 4242, 4242);
      await assert.rejects(
        ensureSocketDir(dir),
        rejectsWith(
          'ERR_SOCKET_DIR_INSECURE',
          'is owned by uid 4242, expected 0',
          `chown 0 ${dir}`,
        ),
      );
    },
  );

  test('refuses a regular file at the directory path', async () => {
    const file = path.join(tmp, 'run');
    await writeFile(file, 'x', { mode: 0o600 });
    await assert.rejects(
      ensureSocketDir(file),
      rejectsWith('ERR_SOCKET_DIR_INSECURE', 'is not a directory'),
    );
  });
});

describe('ensureSocketDir with a socket group (admin.socket_group)', () => {
  const GROUP = 4242;

  test('creates a missing directory 0710 in the group', { skip: NEEDS_ROOT }, async () => {
    const dir = path.join(tmp, 'run');
    await ensureSocketDir(dir, me, { group: GROUP });
    const st = await lstat(dir);
    assert.equal(st.mode & 0o7777, 0o710);
    assert.equal(st.gid, GROUP);
  });

  test(
    'accepts 0750 in the group, refuses group write and a different group',
    { skip: NEEDS_ROOT },
    async () => {
      const dir = path.join(tmp, 'run');
      await mkdir(dir);
      await chown(dir, me, GROUP);
      await chmod(dir, 0o750);
      await ensureSocketDir(dir, me, { group: GROUP });
      await chmod(dir, 0o770);
      await assert.rejects(
        ensureSocketDir(dir, me, { group: GROUP }),
        rejectsWith('ERR_SOCKET_DIR_INSECURE', 'has mode 0770', 'chmod 710'),
      );
      await chmod(dir, 0o710);
      await chown(dir, me, GROUP + 1);
      await assert.rejects(
        ensureSocketDir(dir, me, { group: GROUP }),
        rejectsWith('ERR_SOCKET_DIR_INSECURE', `belongs to group ${GROUP + 1}`),
      );
    },
  );

  test('still refuses any world access', async () => {
    const dir = path.join(tmp, 'run');
    await mkdir(dir);
    await chmod(dir, 0o711);
    await assert.rejects(
      ensureSocketDir(dir, me, { group: (await lstat(dir)).gid }),
      rejectsWith('ERR_SOCKET_DIR_INSECURE', 'has mode 0711'),
    );
  });
});

describe('removeStaleSocket', () => {
  test('does nothing when the path does not exist', async () => {
    await removeStaleSocket(path.join(tmp, 'missing.sock'));
  });

  test('refuses a symlink to a victim file and leaves both the link and the victim intact', async () => {
    const victim = path.join(tmp, 'victim.db');
    await writeFile(victim, 'precious');
    const link = path.join(tmp, 'admin.sock');
    await symlink(victim, link);
    await assert.rejects(removeStaleSocket(link), rejectsWith('ERR_SOCKET_PATH_SYMLINK', link));
    assert.equal(await readFile(victim, 'utf8'), 'precious');
    assert.ok((await lstat(link)).isSymbolicLink());
  });

  test('never connects through a symlink to another service socket', async () => {
    const other = path.join(tmp, 'other-service.sock');
    const server = net.createServer((s) => s.destroy());
    let connections = 0;
    server.on('connection', () => connections++);
    server.listen(other);
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const link = path.join(tmp, 'admin.sock');
    await symlink(other, link);
    await assert.rejects(removeStaleSocket(link), rejectsWith('ERR_SOCKET_PATH_SYMLINK'));
    // Barrier: the server accepts in order, so a probe made before would be counted by now.
    assert.ok(await canConnect(other));
    assert.equal(connections, 1);
  });

  test('refuses a regular file at the socket path and leaves it intact', async () => {
    const file = path.join(tmp, 'admin.sock');
    await writeFile(file, 'not a socket');
    await assert.rejects(removeStaleSocket(file), rejectsWith('ERR_SOCKET_PATH_NOT_SOCKET', file));
    assert.equal(await readFile(file, 'utf8'), 'not a socket');
  });

  test('leaves the live socket of another process untouched', async () => {
    const socketPath = path.join(tmp, 'admin.sock');
    await childListening(socketPath);
    await assert.rejects(
      removeStaleSocket(socketPath),
      rejectsWith('ERR_SOCKET_IN_USE', socketPath),
    );
    assert.ok((await lstat(socketPath)).isSocket());
    assert.ok(await canConnect(socketPath));
  });

  test('removes a stale socket left behind by a SIGKILLed process', async () => {
    const socketPath = path.join(tmp, 'admin.sock');
    const child = await childListening(socketPath);
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok((await lstat(socketPath)).isSocket(), 'SIGKILL leaves the socket file behind');
    await removeStaleSocket(socketPath);
    await assert.rejects(lstat(socketPath), { code: 'ENOENT' });
  });
});

describe('listenRestricted', () => {
  async function listen(socketPath: string, mode?: number): Promise<net.Server> {
    const server = net.createServer();
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    await listenRestricted(server, socketPath, mode);
    return server;
  }

  test('ends with mode 0600 and restores the umask, even when the umask is 0', async () => {
    withUmask(0);
    const socketPath = path.join(tmp, 'admin.sock');
    await listen(socketPath);
    assert.equal(await modeOf(socketPath), 0o600);
    assert.equal(process.umask(0), 0);
  });

  test('ends with mode 0660 when asked for owner and group access', async () => {
    withUmask(0);
    const socketPath = path.join(tmp, 'admin.sock');
    await listen(socketPath, 0o660);
    assert.equal(await modeOf(socketPath), 0o660);
  });

  test('the socket already has its final mode the moment bind returns, before any chmod', async () => {
    withUmask(0);
    const socketPath = path.join(tmp, 'admin.sock');
    const server = net.createServer();
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    // Node binds a Unix socket synchronously inside listen(): observe the file right there,
    // which is the widest window anyone could see before listenRestricted's explicit chmod.
    const seen: number[] = [];
    const originalListen = server.listen.bind(server) as (...args: unknown[]) => net.Server;
    (server as { listen: (...args: unknown[]) => net.Server }).listen = (...args) => {
      const result = originalListen(...args);
      seen.push(lstatSync(socketPath).mode & 0o7777);
      return result;
    };
    await listenRestricted(server, socketPath, 0o600);
    assert.deepEqual(seen, [0o600]);
  });

  test('rejects with ERR_SOCKET_IN_USE when a live socket holds the path', async () => {
    const socketPath = path.join(tmp, 'admin.sock');
    await childListening(socketPath);
    await assert.rejects(
      listenRestricted(net.createServer(), socketPath),
      rejectsWith('ERR_SOCKET_IN_USE', socketPath),
    );
  });

  test('restores the umask when the bind fails', async () => {
    withUmask(0o022);
    await assert.rejects(
      listenRestricted(net.createServer(), path.join(tmp, 'missing', 'admin.sock')),
      {
        code: 'ERR_LISTEN',
      },
    );
    assert.equal(process.umask(0o022), 0o022);
  });

  test('rejects a mode that would open the socket to everyone', async () => {
    await assert.rejects(
      listenRestricted(net.createServer(), path.join(tmp, 'admin.sock'), 0o666),
      RangeError,
    );
  });
});

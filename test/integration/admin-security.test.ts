import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  readFile,
  readlink,
  rm,
  rmdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { readFileSync } from 'node:fs';
import {
  CLI,
  configYaml,
  ROOT,
  request,
  site,
  startProxy,
  startUpstream,
  tmpDir,
  writeConfig,
} from '../helpers.ts';
import type { LogLine, ProxyProcess, Upstream } from '../helpers.ts';
import { createNodeForOtherUids } from '../node-for-other-uids.ts';
import type { NodeForOtherUids } from '../node-for-other-uids.ts';

const OTHER_UID = 4242;
const NEEDS_ROOT =
  process.getuid?.() === 0 ? false : 'needs root: runs peers as uid 4242 and chowns files';
if (NEEDS_ROOT) process.stdout.write(`# admin-security: some cases skipped (${NEEDS_ROOT})\n`);

// The exact keys of a one-process status reply: a new one is a deliberate change (seed C3:
// nothing in it may carry a path or a message from the config).
const OK_KEYS = [
  'config_sha256',
  'generation',
  'last_reload',
  'sites',
  'status',
  'uptime_secs',
  'version',
];
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

interface Exchange {
  readonly text: string;
  readonly ms: number;
  readonly error?: string | undefined;
}

/** Connects, sends `payload` (if any), and collects everything until the server closes. */
function exchange(socketPath: string, payload?: string | Buffer): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(socketPath);
    let text = '';
    let error: string | undefined;
    socket.on('connect', () => {
      if (payload !== undefined) socket.write(payload);
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code));
    socket.on('close', () => resolve({ text, ms: Date.now() - started, error }));
  });
}

function replyOf(result: Exchange): Record<string, unknown> {
  assert.ok(result.text.endsWith('\n'), `one line expected, got ${JSON.stringify(result)}`);
  assert.equal(result.text.indexOf('\n'), result.text.length - 1);
  return JSON.parse(result.text) as Record<string, unknown>;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI asynchronously (the test process must keep serving fakes meanwhile). */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ADMIN_SOCKET_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

// The checkout's node may sit where other uids cannot reach it (a 0700 home): runAs uses a copy.
let otherUidNode: NodeForOtherUids;
before(async () => {
  otherUidNode = await createNodeForOtherUids();
});
after(() => otherUidNode.cleanup());

/** Runs a node script as another uid; resolves with its child process and a line reader. */
function runAs(uid: number, gid: number, script: string, ...args: string[]) {
  const child = spawn(otherUidNode.path, ['-e', script, ...args], {
    uid,
    gid,
    cwd: tmpdir(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const { value, done } = await lines.next();
    assert.ok(done !== true, 'child ended without printing');
    return value as string;
  };
  return { child, nextLine };
}

function killLater(t: TestContext, child: ChildProcess): void {
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
}

/** A client that sends one line and prints the reply (or the connect error) as JSON. */
const CLIENT = `
const s = require('node:net').connect(process.argv[1]);
let t = '';
s.on('connect', () => s.write(process.argv[2] + '\\n'));
s.on('data', (c) => (t += c));
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
s.on('close', () => console.log(JSON.stringify({ reply: t })));`;

/** A socket planted by another uid: records how many bytes any client sent it. */
const PLANTED = `
const server = require('node:net').createServer((s) => {
  let n = 0;
  s.on('data', (c) => (n += c.length));
  s.on('error', () => {});
  s.on('close', () => console.log('bytes ' + n));
});
server.listen(process.argv[1], () => console.log('ready'));`;

const adminLines = (proxy: ProxyProcess): LogLine[] =>
  proxy.logs.filter((l) => l.msg === 'admin request');

describe('admin socket security (seed C1-C3, W1-W7, S1-S5)', { concurrency: 3 }, () => {
  let a: Upstream;
  let b: Upstream;
  let base: string;
  let cleanup: () => Promise<void>;
  let counter = 0;

  before(async () => {
    a = await startUpstream('A');
    b = await startUpstream('B');
    ({ dir: base, cleanup } = await tmpDir('rp-admin-'));
    // Other uids must traverse to the case directories; each socket directory stays 0700.
    await chmod(base, 0o711);
  });
  after(async () => {
    await a.close();
    await b.close();
    await cleanup();
  });

  /** A fresh case directory; the admin socket is `<dir>/run/admin.sock`. */
  async function newCase() {
    const dir = join(base, `c${++counter}`);
    await mkdir(dir, { mode: 0o711 });
    await chmod(dir, 0o711);
    return {
      dir,
      run: join(dir, 'run'),
      socket: join(dir, 'run', 'admin.sock'),
      config: join(dir, 'proxy.yaml'),
    };
  }

  const yaml = (socket: string, upstream: Upstream, adminExtra = '', extra = '') =>
    configYaml(
      site('main', ['*'], [['/', upstream.url]]),
      extra,
      `  socket: ${socket}\n${adminExtra}`,
    );

  async function proxyFor(
    t: { after: (fn: () => unknown) => void },
    options: { adminExtra?: string; extra?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {},
  ) {
    const c = await newCase();
    await writeConfig(c.config, yaml(c.socket, a, options.adminExtra, options.extra));
    const proxy = await startProxy(c.config, options.args, {
      env: { ...process.env, ADMIN_SOCKET_TOKEN: '', ...options.env },
    });
    t.after(() => proxy.stop());
    return { ...c, proxy };
  }

  async function refusedStart(configPath: string): Promise<Run> {
    const result = await cli(['serve', '-c', configPath]);
    assert.notEqual(result.code, 0, 'the proxy must not start');
    assert.equal(result.code, 1, result.stderr);
    return result;
  }

  describe('socket path and directory at start (C1, W4, S5)', () => {
    it('refuses a symlink planted at the socket path, leaving link and victim intact', async () => {
      const c = await newCase();
      await mkdir(c.run, { mode: 0o700 });
      const victim = join(c.dir, 'victim.db');
      await writeFile(victim, 'precious');
      await symlink(victim, c.socket);
      await writeConfig(c.config, yaml(c.socket, a));
      const result = await refusedStart(c.config);
      assert.match(result.stderr, /ERR_SOCKET_PATH_SYMLINK/);
      assert.equal(await readFile(victim, 'utf8'), 'precious');
      assert.ok((await lstat(c.socket)).isSymbolicLink());
      assert.equal(await readlink(c.socket), victim);
    });

    it('refuses a symlink to another service socket without connecting to it (W4)', async (t) => {
      const c = await newCase();
      await mkdir(c.run, { mode: 0o700 });
      const other = net.createServer();
      let connections = 0;
      other.on('connection', (s) => {
        connections++;
        s.destroy();
      });
      other.listen(join(c.dir, 'other.sock'));
      await once(other, 'listening');
      t.after(() => other.close());
      await symlink(join(c.dir, 'other.sock'), c.socket);
      await writeConfig(c.config, yaml(c.socket, a));
      assert.match((await refusedStart(c.config)).stderr, /ERR_SOCKET_PATH_SYMLINK/);
      assert.equal(connections, 0);
    });

    it('refuses a regular file at the socket path and leaves it alone', async () => {
      const c = await newCase();
      await mkdir(c.run, { mode: 0o700 });
      await writeFile(c.socket, 'not a socket');
      await writeConfig(c.config, yaml(c.socket, a));
      assert.match((await refusedStart(c.config)).stderr, /ERR_SOCKET_PATH_NOT_SOCKET/);
      assert.equal(await readFile(c.socket, 'utf8'), 'not a socket');
    });

    it('refuses a socket another process listens on, and leaves it working', async (t) => {
      const c = await newCase();
      await mkdir(c.run, { mode: 0o700 });
      const live = net.createServer((s) => {
        s.on('error', () => undefined); // the proxy's liveness probe hangs up at once
        s.end('still mine\n');
      });
      live.listen(c.socket);
      await once(live, 'listening');
      t.after(() => live.close());
      const inode = (await lstat(c.socket)).ino;
      await writeConfig(c.config, yaml(c.socket, a));
      assert.match((await refusedStart(c.config)).stderr, /ERR_SOCKET_IN_USE/);
      assert.equal((await lstat(c.socket)).ino, inode);
      assert.equal((await exchange(c.socket)).text, 'still mine\n');
    });

    it('removes the stale socket of a SIGKILLed proxy and starts', async (t) => {
      const c = await newCase();
      await writeConfig(c.config, yaml(c.socket, a));
      const first = await startProxy(c.config);
      first.child.kill('SIGKILL');
      await once(first.child, 'exit');
      assert.ok((await lstat(c.socket)).isSocket(), 'a SIGKILL leaves the socket behind');
      const second = await startProxy(c.config);
      t.after(() => second.stop());
      const started = await second.waitForLog((l) => l.msg === 'admin socket listening', {
        includePast: true,
      });
      assert.equal(started.removed_stale_socket, true);
      assert.equal(replyOf(await exchange(c.socket, 'status\n')).status, 'ok');
      // A clean stop, unlike SIGKILL, removes the socket.
      assert.equal(await second.stop(), 0);
      await assert.rejects(lstat(c.socket), { code: 'ENOENT' });
    });

    it('refuses a socket directory open to group and world (0777)', async () => {
      const c = await newCase();
      await mkdir(c.run);
      await chmod(c.run, 0o777);
      await writeConfig(c.config, yaml(c.socket, a));
      const result = await refusedStart(c.config);
      assert.match(result.stderr, /ERR_SOCKET_DIR_INSECURE/);
      assert.match(result.stderr, /chmod 700/);
    });

    it('refuses a socket directory that is a symlink', async () => {
      const c = await newCase();
      await mkdir(join(c.dir, 'elsewhere'), { mode: 0o700 });
      await symlink(join(c.dir, 'elsewhere'), c.run);
      await writeConfig(c.config, yaml(c.socket, a));
      assert.match((await refusedStart(c.config)).stderr, /ERR_SOCKET_DIR_INSECURE/);
    });

    it('refuses a socket directory owned by another uid', { skip: NEEDS_ROOT }, async () => {
      const c = await newCase();
      await mkdir(c.run, { mode: 0o700 });
      await chown(c.run, OTHER_UID, OTHER_UID);
      await writeConfig(c.config, yaml(c.socket, a));
      const result = await refusedStart(c.config);
      assert.match(result.stderr, /ERR_SOCKET_DIR_INSECURE/);
      assert.match(result.stderr, /owned by uid 4242/);
    });
  });

  describe('who may talk (C2, S1, S2)', () => {
    it(
      'refuses a client of another uid even with the modes loosened, and logs its uid',
      { skip: NEEDS_ROOT },
      async (t) => {
        const { run, socket, proxy } = await proxyFor(t);
        await chmod(run, 0o777);
        await chmod(socket, 0o777);
        const peer = runAs(OTHER_UID, OTHER_UID, CLIENT, socket, 'status');
        killLater(t, peer.child);
        const got = JSON.parse(await peer.nextLine()) as { reply: string };
        assert.equal(got.reply, '{"status":"error","message":"forbidden"}\n');
        const refused = await proxy.waitForLog((l) => l.outcome === 'refused', {
          includePast: true,
        });
        assert.equal(refused.level, 'warn');
        assert.deepEqual(refused.peer, { uid: OTHER_UID, gid: OTHER_UID, pid: peer.child.pid });
      },
    );

    it(
      'accepts a uid listed in admin.allowed_uids, which replaces the default',
      { skip: NEEDS_ROOT },
      async (t) => {
        const { run, socket, proxy } = await proxyFor(t, {
          adminExtra: `  allowed_uids: [${OTHER_UID}]\n`,
        });
        await chmod(run, 0o777);
        await chmod(socket, 0o777);
        const peer = runAs(OTHER_UID, OTHER_UID, CLIENT, socket, 'status');
        killLater(t, peer.child);
        const got = JSON.parse(await peer.nextLine()) as { reply: string };
        assert.deepEqual(Object.keys(JSON.parse(got.reply) as object).sort(), OK_KEYS);
        const audit = await proxy.waitForLog((l) => l.outcome === 'ok', { includePast: true });
        assert.deepEqual(audit.peer, { uid: OTHER_UID, gid: OTHER_UID, pid: peer.child.pid });
        assert.equal(audit.command, 'status');
        // Root is not implied once a list is configured.
        assert.equal(replyOf(await exchange(socket, 'status\n')).message, 'forbidden');
      },
    );

    it(
      'with socket_group: socket 0660 and directory 0710 in that group, no loosening needed',
      { skip: NEEDS_ROOT },
      async (t) => {
        const { run, socket } = await proxyFor(t, {
          adminExtra: `  socket_group: ${OTHER_UID}\n  allowed_uids: [${OTHER_UID + 1}]\n`,
        });
        const dirStat = await lstat(run);
        assert.equal(dirStat.mode & 0o7777, 0o710);
        assert.equal(dirStat.gid, OTHER_UID);
        const sockStat = await lstat(socket);
        assert.equal(sockStat.mode & 0o7777, 0o660);
        assert.equal(sockStat.gid, OTHER_UID);
        const member = runAs(OTHER_UID + 1, OTHER_UID, CLIENT, socket, 'status');
        killLater(t, member.child);
        const got = JSON.parse(await member.nextLine()) as { reply: string };
        assert.equal((JSON.parse(got.reply) as { status: string }).status, 'ok');
        const stranger = runAs(OTHER_UID + 2, OTHER_UID + 2, CLIENT, socket, 'status');
        killLater(t, stranger.child);
        assert.deepEqual(JSON.parse(await stranger.nextLine()), { error: 'EACCES' });
      },
    );
  });

  describe('one proxy, default settings (C2, C3, review #004)', { concurrency: true }, () => {
    let shared: Awaited<ReturnType<typeof proxyFor>>;
    let stop: () => unknown = () => undefined;
    before(async () => {
      shared = await proxyFor({ after: (fn) => (stop = fn) });
    });
    after(() => stop());

    it('creates the directory 0700 and the socket 0600 (C2, S3)', async () => {
      assert.equal((await lstat(shared.run)).mode & 0o7777, 0o700);
      const st = await lstat(shared.socket);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o7777, 0o600);
    });

    it('answers status with uptime, sites, generation, the config hash and the version', async () => {
      const { socket, config } = shared;
      const reply = replyOf(await exchange(socket, 'status\n'));
      assert.deepEqual(Object.keys(reply).sort(), OK_KEYS);
      assert.equal(reply.sites, 1);
      assert.equal(reply.generation, 1);
      assert.equal(reply.version, VERSION);
      assert.equal(reply.last_reload, null, 'no reload yet');
      const sha = createHash('sha256')
        .update(await readFile(config))
        .digest('hex');
      assert.equal(reply.config_sha256, sha);
    });

    it('answers unknown commands generically, never echoing or logging them (C3)', async () => {
      const { socket, proxy } = shared;
      const markup = '<script>alert(document.cookie)</script>';
      const result = await exchange(socket, `${markup}\n`);
      assert.equal(result.text, '{"status":"error","message":"unknown command"}\n');
      const audit = await proxy.waitForLog((l) => l.outcome === 'unknown_command', {
        includePast: true,
      });
      assert.equal(audit.command, null);
      assert.ok(!JSON.stringify(proxy.logs).includes('script'), 'input reached the log');
    });

    it('rejects a 5000-byte line generically and closes; 4096 bytes with the newline pass', async () => {
      const { socket } = shared;
      const long = await exchange(socket, `${'A'.repeat(5000)}\n`);
      assert.equal(long.text, '{"status":"error","message":"request too long"}\n');
      const over = await exchange(socket, `${'s'.repeat(4096)}\n`);
      assert.equal(over.text, '{"status":"error","message":"request too long"}\n');
      const limit = await exchange(socket, `${' '.repeat(4089)}status\n`);
      assert.equal(replyOf(limit).status, 'ok');
    });

    it('closes an idle client after about 5 s', async () => {
      const { socket, proxy } = shared;
      const result = await Promise.race([
        exchange(socket),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('idle client still open after 8 s')), 8_000),
        ),
      ]);
      assert.ok(result.ms >= 4_000, `closed after only ${result.ms} ms`);
      assert.equal(result.text, '{"status":"error","message":"request timeout"}\n');
      await proxy.waitForLog((l) => l.outcome === 'timeout', { includePast: true });
    });
  });

  describe('protocol: token and limits (S4, W1)', () => {
    it('requires the token when ADMIN_SOCKET_TOKEN is set, and never logs it (S4)', async (t) => {
      const token = 'T0ken-of-the-test:with-colon';
      const { socket, proxy } = await proxyFor(t, { env: { ADMIN_SOCKET_TOKEN: token } });
      const unauthorized = '{"status":"error","message":"unauthorized"}\n';
      assert.equal((await exchange(socket, 'status\n')).text, unauthorized);
      assert.equal((await exchange(socket, 'n0t-the-t0ken:status\n')).text, unauthorized);
      assert.equal((await exchange(socket, `${token}x:status\n`)).text, unauthorized);
      assert.equal(replyOf(await exchange(socket, `${token}:status\n`)).status, 'ok');
      assert.equal(
        (await exchange(socket, `${token}:bogus\n`)).text,
        '{"status":"error","message":"unknown command"}\n',
      );
      const withToken = await cli(['ctl', '-s', socket, 'status'], { ADMIN_SOCKET_TOKEN: token });
      assert.equal(withToken.code, 0, withToken.stderr);
      const logs = JSON.stringify(proxy.logs);
      assert.ok(!logs.includes('T0ken') && !logs.includes('n0t-the-t0ken'), 'a token was logged');
      assert.equal(adminLines(proxy).filter((l) => l.outcome === 'unauthorized').length, 3);
    });

    it('serves at most max_connections at once, drops the excess, proxy traffic unaffected (W1)', async (t) => {
      const { socket, proxy } = await proxyFor(t);
      const clients = Array.from({ length: 40 }, () => {
        const s = net.connect(socket);
        const closed = new Promise<number>((resolve) => s.on('close', () => resolve(Date.now())));
        s.on('error', () => undefined);
        // A slow sender: part of a line, then nothing.
        s.on('connect', () => s.write('sta'));
        return { s, closed };
      });
      t.after(() => clients.forEach((c) => c.s.destroy()));
      const dropped = () =>
        proxy.logs.filter((l) => l.outcome === 'over_limit' && l.level === 'warn').length;
      const deadline = Date.now() + 3_000;
      while (dropped() < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(dropped(), 30);
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => request(`${proxy.url}/w1`, { host: 'h' })),
      );
      assert.deepEqual(
        new Set(replies.map((r) => `${r.status} ${r.body}`)),
        new Set(['200 A GET /w1']),
      );
      const stillOpen = clients.filter((c) => !c.s.destroyed && c.s.readyState === 'open');
      assert.equal(stillOpen.length, 10);
      // A new client while saturated is dropped too; once the slow ones leave, slots are back.
      const extra = await exchange(socket, 'status\n');
      assert.equal(extra.text, '');
      assert.equal(dropped(), 31);
      clients.forEach((c) => c.s.destroy());
      await Promise.all(clients.map((c) => c.closed));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(replyOf(await exchange(socket, 'status\n')).status, 'ok');
    });
  });

  describe('reload over the socket (C3, W2, W5, W6)', () => {
    it('keeps the old table on a failed reload, answering generically (C3)', async (t) => {
      const { socket, config, proxy } = await proxyFor(t);
      await writeConfig(config, yaml(socket, a).replace(a.url, 'ftp://127.0.0.1:1'));
      const result = await cli(['ctl', '-s', socket, 'reload']);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '{"status":"error","message":"reload failed"}\n');
      assert.equal((await request(`${proxy.url}/x`, { host: 'h' })).body, 'A GET /x');
      const detail = await proxy.waitForLog(
        (l) => l.msg === 'reload failed; the previous config keeps serving',
        { includePast: true },
      );
      assert.match(JSON.stringify(detail.errors), /must be an http\(s\) URL/);
      const audit = await proxy.waitForLog(
        (l) => l.msg === 'admin request' && l.outcome === 'error',
        {
          includePast: true,
        },
      );
      assert.equal(audit.code, 'ERR_CONFIG_INVALID');
      assert.equal(audit.command, 'reload');
    });

    it("status shows the last reload's time, outcome and code, never its detail (C3)", async (t) => {
      const { dir, socket, config, proxy } = await proxyFor(t);
      const lastReload = async () => {
        const result = await exchange(socket, 'status\n');
        const reply = replyOf(result);
        assert.deepEqual(Object.keys(reply).sort(), OK_KEYS);
        return { text: result.text, last: reply.last_reload as Record<string, string> };
      };
      const started = Date.now();
      await writeConfig(config, yaml(socket, b));
      assert.equal((await cli(['ctl', '-s', socket, 'reload'])).code, 0);
      const applied = (await lastReload()).last;
      assert.deepEqual(Object.keys(applied).sort(), ['outcome', 'time']);
      assert.equal(applied.outcome, 'applied');
      const time = Date.parse(applied.time as string);
      assert.ok(time >= started - 1_000 && time <= Date.now(), applied.time);
      const failure = async (code: string, detail: RegExp, secrets: string[]) => {
        assert.equal((await cli(['ctl', '-s', socket, 'reload'])).code, 1);
        const failed = await lastReload();
        assert.deepEqual(Object.keys(failed.last).sort(), ['code', 'outcome', 'time']);
        assert.equal(failed.last.outcome, 'failed');
        assert.equal(failed.last.code, code);
        for (const secret of secrets) assert.ok(!failed.text.includes(secret), failed.text);
        const logged = await proxy.waitForLog(
          (l) => l.msg?.startsWith('reload failed') === true && l.code === code,
          { includePast: true },
        );
        assert.match((logged.errors as string[]).join('\n'), detail, 'the log has the detail');
      };
      // Failures whose detail quotes the config, or names its path: the log has them, status not.
      const twice = site('secret-name', ['a.example'], [['/', b.url]]);
      await writeConfig(
        config,
        configYaml(twice + twice.replace('a.example', 'b.example'), '', `  socket: ${socket}\n`),
      );
      await failure('ERR_CONFIG_INVALID', /"secret-name" is already used by sites\[0\]/, [
        'secret-name',
        'sites[',
      ]);
      await rm(config);
      await mkdir(config);
      await failure('ERR_CONFIG_UNREADABLE', /proxy\.yaml: not a regular file/, [
        dir,
        'proxy.yaml',
      ]);
      await rmdir(config);
      // SIGHUP reloads count the same: a parse error, then the running bytes again.
      await writeConfig(config, 'sites: [oops\n');
      await proxy.reload();
      assert.equal((await lastReload()).last.code, 'ERR_CONFIG_PARSE');
      await writeConfig(config, yaml(socket, b));
      assert.equal((await proxy.reload()).msg, 'reload: config unchanged');
      const unchanged = (await cli(['ctl', '-s', socket, 'status'])).stdout;
      const shown = JSON.parse(unchanged) as { last_reload: Record<string, string> };
      assert.deepEqual(Object.keys(shown.last_reload).sort(), ['outcome', 'time']);
      assert.equal(shown.last_reload.outcome, 'unchanged');
    });

    it('applies a new config and names changed static fields (W6), with ctl -c', async (t) => {
      const { socket, config, proxy } = await proxyFor(t);
      const before = createHash('sha256')
        .update(await readFile(config))
        .digest('hex');
      await writeConfig(config, yaml(socket, b, '', 'shutdown:\n  drain_delay_ms: 5\n'));
      const after = createHash('sha256')
        .update(await readFile(config))
        .digest('hex');
      const result = await cli(['ctl', '-c', config, 'reload']);
      assert.equal(result.code, 0, result.stderr);
      const reply = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(reply.status, 'ok');
      assert.deepEqual(reply.restart_required, ['shutdown.drain_delay_ms']);
      assert.equal(reply.generation, 2);
      assert.equal(reply.config_sha256, after);
      assert.equal((await request(`${proxy.url}/y`, { host: 'h' })).body, 'B GET /y');
      const audit = await proxy.waitForLog((l) => l.command === 'reload', { includePast: true });
      assert.equal(audit.previous_sha256, before);
      assert.equal(audit.sha256, after);
      assert.equal(typeof (audit.peer as { pid: number }).pid, 'number');
      const status = await cli(['ctl', '-s', socket, 'status']);
      assert.equal(status.code, 0);
      assert.equal((JSON.parse(status.stdout) as { generation: number }).generation, 2);
      // Without -s, $REVERSE_PROXY_ADMIN_SOCKET names the socket (the Helm chart sets it).
      const fromEnv = await cli(['ctl', 'status'], { REVERSE_PROXY_ADMIN_SOCKET: socket });
      assert.equal(fromEnv.code, 0, fromEnv.stderr);
      assert.equal((JSON.parse(fromEnv.stdout) as { generation: number }).generation, 2);
    });

    it('validates socket reloads with the --allow-wildcard-bind given at start (W5)', async (t) => {
      const c = await newCase();
      const wild = (u: Upstream) =>
        yaml(c.socket, u).replace('127.0.0.1:0\nadmin', '0.0.0.0:0\nadmin');
      await writeConfig(c.config, wild(a));
      const proxy = await startProxy(c.config, ['--allow-wildcard-bind']);
      t.after(() => proxy.stop());
      await writeConfig(c.config, wild(b));
      const result = await cli(['ctl', '-s', c.socket, 'reload']);
      assert.equal(result.code, 0, result.stdout);
      assert.equal((await request(`${proxy.url}/`, { host: 'h' })).body, 'B GET /');
    });
  });

  describe('ctl', () => {
    it('exits 3 when nothing listens and 2 on usage errors', async () => {
      const c = await newCase();
      const missing = await cli(['ctl', '-s', c.socket, 'status']);
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /ERR_ADMIN_UNREACHABLE/);
      assert.equal((await cli(['ctl', 'frobnicate'])).code, 2);
      assert.equal((await cli(['ctl', '--expect-uid', 'root', 'status'])).code, 2);
    });

    it(
      'sends not a byte, not even the token, to a socket served by another uid',
      { skip: NEEDS_ROOT },
      async (t) => {
        const c = await newCase();
        await mkdir(c.run, { mode: 0o700 });
        await chown(c.run, OTHER_UID, OTHER_UID);
        const planted = runAs(OTHER_UID, OTHER_UID, PLANTED, c.socket);
        killLater(t, planted.child);
        assert.equal(await planted.nextLine(), 'ready');
        const result = await cli(['ctl', '-s', c.socket, 'reload'], {
          ADMIN_SOCKET_TOKEN: 'secret',
        });
        assert.equal(result.code, 4);
        assert.equal(result.stdout, '');
        assert.match(result.stderr, /served by uid 4242/);
        assert.match(result.stderr, /ERR_ADMIN_SERVER_UNTRUSTED/);
        assert.equal(await planted.nextLine(), 'bytes 0');
        // With --expect-uid the same socket is trusted: the byte counter works.
        await cli([
          'ctl',
          '-s',
          c.socket,
          '--expect-uid',
          `${OTHER_UID}`,
          '--timeout',
          '300',
          'status',
        ]);
        assert.equal(await planted.nextLine(), 'bytes 7');
      },
    );
  });

  describe('health on a Unix socket (W7)', () => {
    it('serves /readyz on health.socket, 0600, with bounded connections', async (t) => {
      const c = await newCase();
      const healthSocket = join(c.dir, 'hrun', 'health.sock');
      await writeConfig(
        c.config,
        yaml(c.socket, a).replace(
          'health:\n  address: 127.0.0.1:0',
          `health:\n  address: ''\n  socket: ${healthSocket}\n  max_connections: 2`,
        ),
      );
      const proxy = await startProxy(c.config);
      t.after(() => proxy.stop());
      const get = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request({ socketPath: healthSocket, path, agent: false }, (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.end();
        });
      assert.deepEqual(await get('/readyz'), { status: 200, body: '{"status":"ok"}' });
      assert.equal((await lstat(healthSocket)).mode & 0o7777, 0o600);
      assert.equal((await lstat(join(c.dir, 'hrun'))).mode & 0o7777, 0o700);
      const held = [net.connect(healthSocket), net.connect(healthSocket)];
      await Promise.all(held.map((s) => once(s, 'connect')));
      await new Promise((r) => setTimeout(r, 50));
      await assert.rejects(get('/readyz'));
      held.forEach((s) => s.destroy());
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await get('/livez')).status, 200);
      assert.equal(await proxy.stop(), 0);
      await assert.rejects(lstat(healthSocket), { code: 'ENOENT' });
    });
  });
});

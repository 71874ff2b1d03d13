import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSync } from 'bcryptjs';
import { rawExchange, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import { CLI, request, startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess, Reply } from '../helpers.ts';

// Passwords no log line may ever hold, nor their base64 in the Authorization header.
const ALICE_PASSWORD = 'correct horse: battery staple';
const BOB_PASSWORD = 'Tr0ub4dor&3 bob';
const JOSE_PASSWORD = 'contraseña-ñ';
const SECRETS = [ALICE_PASSWORD, BOB_PASSWORD, JOSE_PASSWORD, 'wrong-guess-xyz'];

/** `htpasswd -B` writes $2y$; bcryptjs writes $2b$: the same hash either way. Cost 5: fast. */
const entry = (user: string, password: string, prefix = '$2y$') =>
  `${user}:${prefix}${hashSync(password, 5).slice(4)}\n`;
const ALICE = entry('alice', ALICE_PASSWORD);
const BOB = entry('bob', BOB_PASSWORD, '$2b$');
const JOSE = entry('José', JOSE_PASSWORD, '$2a$');

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

async function metric(proxy: ProxyProcess, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

const FAILURES = /reverse_proxy_basic_auth_failures_total\{site="app",route="\/"\} (\d+)/;

/**
 * Issue 20: `access.basic_auth` on a site and on a route, against a raw recording upstream that
 * must see nothing of a refused request; the htpasswd file re-read by each reload; the access
 * log on, and no password (nor its header) in any line the proxy writes.
 */
describe('access.basic_auth', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: RecordingUpstream;
  let proxy: ProxyProcess;
  let users: string;
  let admins: string;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    up = await startRecordingUpstream();
    users = join(dir, 'htpasswd');
    admins = join(dir, 'admins');
    await writeConfig(users, `# app users\n\n${ALICE}${JOSE}`);
    await writeConfig(admins, BOB);
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ''
health:
  address: 127.0.0.1:0
log:
  access_log: true
sites:
  - name: app
    hosts: [app.test]
    access:
      basic_auth: { realm: "App users", htpasswd_file: ${users} }
    routes:
      - { path: /, upstream: "${up.url}" }
      - path: /admin/
        upstream: "${up.url}"
        access:
          basic_auth: { realm: admins, htpasswd_file: ${admins} }
      - path: /public/
        upstream: "${up.url}"
        access: { deny: [192.0.2.0/24] }
`,
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  const get = (path: string, authorization?: string): Promise<Reply> =>
    request(`${proxy.url}${path}`, {
      host: 'app.test',
      headers: authorization === undefined ? {} : { authorization },
    });

  it('answers 401 with the realm, and the upstream sees nothing, without or with wrong credentials', async () => {
    const before = up.requests.length;
    const failuresBefore = await metric(proxy, FAILURES);
    for (const authorization of [
      undefined,
      basic('alice', 'wrong-guess-xyz'),
      basic('mallory', ALICE_PASSWORD),
      basic('alice', ''),
      'Basic not-base64!',
      'Bearer abc',
    ]) {
      const reply = await get('/', authorization);
      assert.equal(reply.status, 401, String(authorization));
      assert.equal(reply.headers['www-authenticate'], 'Basic realm="App users", charset="UTF-8"');
    }
    const admin = await get('/admin/', basic('alice', ALICE_PASSWORD));
    assert.equal(admin.status, 401, "the route's own file replaces the site's");
    assert.equal(admin.headers['www-authenticate'], 'Basic realm="admins", charset="UTF-8"');
    assert.equal(up.requests.length, before, 'the upstream saw none of them');
    // Every attempt with credentials counts; the first, without any, does not.
    assert.equal(await metric(proxy, FAILURES), failuresBefore + 5);
  });

  it('passes the right credentials ($2y$, $2b$, $2a$; UTF-8 names and passwords) to the upstream', async () => {
    const before = up.requests.length;
    assert.equal((await get('/', basic('alice', ALICE_PASSWORD))).status, 200);
    assert.equal((await get('/x', basic('José', JOSE_PASSWORD))).status, 200);
    assert.equal((await get('/admin/', basic('bob', BOB_PASSWORD))).status, 200);
    assert.equal((await get('/public/')).status, 200, 'a route whose access has no basic_auth');
    assert.equal(up.requests.length, before + 4);
    assert.equal(
      up.requests[before]?.header('authorization'),
      basic('alice', ALICE_PASSWORD),
      'the header goes upstream as it came',
    );
    // Again, from the login cache: the same answers.
    assert.equal((await get('/', basic('alice', ALICE_PASSWORD))).status, 200);
    assert.equal((await get('/', basic('alice', 'wrong-guess-xyz'))).status, 401);
  });

  it('holds WebSocket handshakes to it: 401 with the challenge without the right credentials, through with them', async () => {
    const handshake = (authorization?: string) =>
      rawExchange(
        proxy.port,
        'GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
          (authorization === undefined ? '' : `Authorization: ${authorization}\r\n`) +
          '\r\n',
      );
    const before = up.requests.length;
    for (const authorization of [undefined, basic('alice', 'wrong-guess-xyz')]) {
      const refused = await handshake(authorization);
      assert.deepEqual(refused.statuses, [401]);
      assert.match(
        refused.text,
        /\r\nwww-authenticate: Basic realm="App users", charset="UTF-8"\r\n/,
      );
      assert.ok(refused.closed);
    }
    assert.equal(up.requests.length, before, 'the upstream saw no handshake');
    // The right credentials: the handshake goes upstream (this one answers 200, relayed).
    const passed = await handshake(basic('alice', ALICE_PASSWORD));
    assert.deepEqual(passed.statuses, [200]);
    assert.equal(up.requests.length, before + 1);
    assert.equal(up.requests[before]?.header('upgrade'), 'websocket');
  });

  it('takes the users of the file as a reload reads it: one added works at once, one removed stops', async () => {
    assert.equal((await get('/', basic('alice', ALICE_PASSWORD))).status, 200); // cached now
    assert.equal((await get('/', basic('bob', BOB_PASSWORD))).status, 401);
    await writeConfig(users, `${BOB}${JOSE}`);
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.equal(outcome.htpasswd_changed, true);
    assert.equal((await get('/', basic('bob', BOB_PASSWORD))).status, 200, 'added');
    assert.equal(
      (await get('/', basic('alice', ALICE_PASSWORD))).status,
      401,
      'removed, though cached',
    );
    assert.equal((await get('/', basic('José', JOSE_PASSWORD))).status, 200, 'kept');
  });

  it('keeps the users loaded before when a reload finds the file broken, and says so', async () => {
    await writeConfig(users, `${ALICE}old:$apr1$abc$0123456789abcdefghijkl\n`);
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.deepEqual(outcome.htpasswd_warnings, [
      `sites[0].access.basic_auth.htpasswd_file: ${users} line 2: user "old" uses $apr1$ (MD5): only bcrypt ($2y$, $2b$, $2a$) is accepted; the users loaded before from this file stay in force`,
    ]);
    assert.equal(
      (await get('/', basic('bob', BOB_PASSWORD))).status,
      200,
      'still the last good file',
    );
    assert.equal((await get('/', basic('alice', ALICE_PASSWORD))).status, 401);
    // Fixed: the new users apply.
    await writeConfig(users, ALICE);
    assert.equal((await proxy.reload()).msg, 'reload applied');
    assert.equal((await get('/', basic('alice', ALICE_PASSWORD))).status, 200);
    assert.equal((await get('/', basic('bob', BOB_PASSWORD))).status, 401);
  });

  it('never writes a password, or the header that carries it, in any log line', () => {
    const text = JSON.stringify(proxy.logs) + proxy.stderr();
    assert.ok(
      proxy.logs.some((l) => l.access === true && l.status === 401),
      'the access log has the refusals',
    );
    for (const secret of SECRETS) {
      assert.ok(!text.includes(secret), 'a password in the logs');
      for (const user of ['alice', 'bob', 'José', 'mallory']) {
        const header = basic(user, secret).slice('Basic '.length);
        assert.ok(!text.includes(header), 'an Authorization header in the logs');
      }
    }
  });
});

describe('access.basic_auth and validate', () => {
  it('refuses an htpasswd file with another kind of hash, naming the config path, the file and the line', async () => {
    const { dir, cleanup } = await tmpDir();
    try {
      const file = join(dir, 'htpasswd');
      await writeConfig(file, `${ALICE}\n# legacy\nbob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n`);
      const path = join(dir, 'proxy.yaml');
      const yaml = (htpasswd: string) => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: app
    hosts: [app.test]
    access:
      basic_auth: { realm: app, htpasswd_file: ${htpasswd} }
    routes:
      - { path: /, upstream: "http://127.0.0.1:9" }
`;
      await writeConfig(path, yaml(file));
      const run = () =>
        spawnSync(process.execPath, [CLI, 'validate', '-c', path], { encoding: 'utf8' });
      let result = run();
      assert.equal(result.status, 1);
      assert.equal(
        result.stderr,
        `${path}: sites[0].access.basic_auth.htpasswd_file: ${file} line 4: user "bob" uses $apr1$ (MD5): only bcrypt ($2y$, $2b$, $2a$) is accepted\n${path}: invalid (1 error(s))\n`,
      );
      assert.ok(!result.stderr.includes('HqJZimcKQFAMYayBlzkrA'), 'the hash is never printed');
      await writeConfig(path, yaml(join(dir, 'missing')));
      result = run();
      assert.equal(result.status, 1);
      assert.match(result.stderr, /htpasswd_file: cannot read .*\/missing: ENOENT\n/);
      await writeConfig(file, ALICE);
      await writeConfig(path, yaml(file));
      assert.equal(run().status, 0);
    } finally {
      await cleanup();
    }
  });
});

describe('access.basic_auth with workers', () => {
  it('checks in every worker the users the primary read, and a reload reaches them all', async () => {
    const { dir, cleanup } = await tmpDir();
    const up = await startRecordingUpstream();
    const users = join(dir, 'htpasswd');
    await writeConfig(users, ALICE);
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
  - name: app
    hosts: [app.test]
    routes:
      - path: /
        upstream: "${up.url}"
        access:
          basic_auth: { realm: app, htpasswd_file: ${users} }
`,
    );
    const proxy = await startProxy(path, ['--workers', '2']);
    try {
      const get = (authorization: string) =>
        request(`${proxy.url}/`, { host: 'app.test', headers: { authorization } });
      // Fresh connections: the kernel spreads them over both workers.
      const first = await Promise.all(
        [1, 2, 3, 4, 5, 6].map(() => get(basic('alice', ALICE_PASSWORD))),
      );
      assert.deepEqual(
        first.map((r) => r.status),
        [200, 200, 200, 200, 200, 200],
      );
      await writeConfig(users, BOB);
      assert.equal((await proxy.reload()).msg, 'reload applied');
      const bob = await Promise.all([1, 2, 3, 4, 5, 6].map(() => get(basic('bob', BOB_PASSWORD))));
      assert.deepEqual(
        bob.map((r) => r.status),
        [200, 200, 200, 200, 200, 200],
      );
      const alice = await Promise.all(
        [1, 2, 3, 4, 5, 6].map(() => get(basic('alice', ALICE_PASSWORD))),
      );
      assert.deepEqual(
        alice.map((r) => r.status),
        [401, 401, 401, 401, 401, 401],
      );
      // Failures are counted in each worker and summed by the primary.
      const text = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
      assert.match(text, /reverse_proxy_basic_auth_failures_total\{site="app",route="\/"\} 6\b/);
    } finally {
      await proxy.stop();
      await up.close();
      await cleanup();
    }
  });
});

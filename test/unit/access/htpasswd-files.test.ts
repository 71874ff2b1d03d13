import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSync } from 'bcryptjs';
import {
  EMPTY_HTPASSWD,
  loadHtpasswdFiles,
  sameHtpasswd,
} from '../../../src/access/htpasswd-files.ts';
import type { HtpasswdSet } from '../../../src/access/htpasswd-files.ts';
import { checkConfig } from '../../../src/config/check.ts';
import type { ProxyConfig } from '../../../src/config/types.ts';
import { ConfigInvalidError, formatIssue } from '../../../src/errors.ts';

const ALICE = `alice:${hashSync('a', 4)}\n`;
const BOB = `bob:${hashSync('b', 6)}\n`;

/** A config whose site uses `siteFile` and whose second route uses `routeFile`. */
function configYaml(siteFile: string, routeFile = siteFile): string {
  return `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    access:
      basic_auth: { realm: api, htpasswd_file: ${siteFile} }
    routes:
      - path: /
        upstream: http://127.0.0.1:9001
      - path: /admin/
        upstream: http://127.0.0.1:9001
        access:
          basic_auth: { realm: admin, htpasswd_file: ${routeFile} }
`;
}

function load(
  yaml: string,
  previous?: HtpasswdSet,
): { config: ProxyConfig; htpasswd: HtpasswdSet } {
  return checkConfig(
    Buffer.from(yaml),
    'test.yaml',
    { allowWildcardBind: false },
    undefined,
    previous,
  );
}

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err.issues.map(formatIssue);
    throw err;
  }
  assert.fail('no error');
}

describe('htpasswd files of a config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rp-htpasswd-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads each file once, whatever uses it, with its users and a dummy hash of their usual cost', async () => {
    const users = join(dir, 'users');
    const admins = join(dir, 'admins');
    await writeFile(users, `${ALICE}${BOB}${BOB.replace('bob', 'carol')}`);
    await writeFile(admins, ALICE);
    const { htpasswd } = load(configYaml(users, admins));
    assert.deepEqual([...htpasswd.files.keys()], [users, admins]);
    const file = htpasswd.files.get(users);
    assert.deepEqual([...(file?.users.keys() ?? [])], ['alice', 'bob', 'carol']);
    // Two of three use cost 6: an unknown user costs what they do.
    assert.match(file?.dummy ?? '', /^\$2b\$06\$[./A-Za-z0-9]{53}$/);
    assert.equal(htpasswd.warnings.length, 0);
    assert.equal(load(configYaml(users)).htpasswd.files.size, 1, 'one file, named twice');
  });

  it('refuses at start a file that is missing, unreadable or wrong, naming the config path, the file and the line', async () => {
    const md5 = join(dir, 'md5');
    await writeFile(md5, `${ALICE}\n# old entries\nbob:$apr1$abc$0123456789abcdefghijkl\n`);
    assert.deepEqual(
      issues(() => load(configYaml(md5))),
      [
        `sites[0].access.basic_auth.htpasswd_file: ${md5} line 4: user "bob" uses $apr1$ (MD5): only bcrypt ($2y$, $2b$, $2a$) is accepted`,
      ],
    );
    const ok = join(dir, 'ok');
    await writeFile(ok, ALICE);
    const missing = join(dir, 'missing');
    assert.deepEqual(
      issues(() => load(configYaml(ok, missing))),
      [`sites[0].routes[1].access.basic_auth.htpasswd_file: cannot read ${missing}: ENOENT`],
    );
    assert.deepEqual(
      issues(() => load(configYaml(dir))),
      [`sites[0].access.basic_auth.htpasswd_file: cannot read ${dir}: EISDIR`],
    );
    const latin1 = join(dir, 'latin1');
    await writeFile(latin1, Buffer.from(`Jos\xe9:${hashSync('x', 4)}\n`, 'latin1'));
    assert.deepEqual(
      issues(() => load(configYaml(latin1))),
      [`sites[0].access.basic_auth.htpasswd_file: ${latin1} is not valid UTF-8`],
    );
    if (process.getuid?.() !== 0) {
      const secret = join(dir, 'secret');
      await writeFile(secret, ALICE);
      await chmod(secret, 0);
      assert.deepEqual(
        issues(() => load(configYaml(secret))),
        [`sites[0].access.basic_auth.htpasswd_file: cannot read ${secret}: EACCES`],
      );
    }
  });

  it('on a reload, keeps the users loaded before from a file that broke, with a warning', async () => {
    const users = join(dir, 'reload-users');
    await writeFile(users, ALICE);
    const first = load(configYaml(users)).htpasswd;
    await writeFile(users, `${ALICE}bob:plaintext\n`);
    const second = load(configYaml(users), first).htpasswd;
    assert.equal(second.files.get(users), first.files.get(users), 'the same users object');
    assert.deepEqual(second.warnings.map(formatIssue), [
      `sites[0].access.basic_auth.htpasswd_file: ${users} line 2: user "bob" uses plain text or an unknown scheme: only bcrypt ($2y$, $2b$, $2a$) is accepted; the users loaded before from this file stay in force`,
    ]);
    assert.ok(!sameHtpasswd(second, first), 'a new warning is news');
    assert.ok(
      sameHtpasswd(load(configYaml(users), second).htpasswd, second),
      'the same warning is not',
    );
    await rm(users);
    assert.match(
      formatIssue(load(configYaml(users), first).htpasswd.warnings[0] ?? { path: '', message: '' }),
      /cannot read .*: ENOENT; the users loaded before from this file stay in force$/,
    );
  });

  it('on a reload, refuses a broken file it never loaded, as a start would', async () => {
    const users = join(dir, 'r-users');
    const fresh = join(dir, 'r-fresh');
    await writeFile(users, ALICE);
    await writeFile(fresh, 'alice:{SHA}abc\n');
    const first = load(configYaml(users)).htpasswd;
    assert.deepEqual(
      issues(() => load(configYaml(users, fresh), first)),
      [
        `sites[0].routes[1].access.basic_auth.htpasswd_file: ${fresh} line 1: user "alice" uses {SHA} (SHA-1): only bcrypt ($2y$, $2b$, $2a$) is accepted`,
      ],
    );
  });

  it('keeps the object of a file whose bytes did not change, and takes the new users of one that did', async () => {
    const users = join(dir, 'same');
    await writeFile(users, ALICE);
    const first = load(configYaml(users)).htpasswd;
    const again = load(configYaml(users), first).htpasswd;
    assert.equal(again.files.get(users), first.files.get(users));
    assert.ok(sameHtpasswd(again, first));
    await writeFile(users, BOB);
    const changed = load(configYaml(users), first).htpasswd;
    assert.deepEqual([...(changed.files.get(users)?.users.keys() ?? [])], ['bob']);
    assert.ok(!sameHtpasswd(changed, first));
  });

  it('reads nothing for a config without basic_auth', () => {
    const { htpasswd } = load(
      'listeners:\n  - address: 127.0.0.1:8080\nsites:\n  - name: a\n    hosts: [a]\n    routes:\n      - { path: /, upstream: "http://127.0.0.1:1" }\n',
    );
    assert.equal(htpasswd.files.size, 0);
    assert.ok(sameHtpasswd(htpasswd, EMPTY_HTPASSWD));
    assert.equal(loadHtpasswdFiles({ sites: [] } as unknown as ProxyConfig).files.size, 0);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashSync } from 'bcryptjs';
import { BasicAuthVerifier, basicCredentials } from '../../../src/access/basic-auth.ts';
import type { PasswordHasher } from '../../../src/access/basic-auth.ts';
import { BcryptBusyError, BcryptPool, MAX_QUEUED } from '../../../src/access/bcrypt-pool.ts';
import { dummyHash } from '../../../src/access/htpasswd-files.ts';
import type { HtpasswdFile } from '../../../src/access/htpasswd-files.ts';
import { LoginCache } from '../../../src/access/login-cache.ts';
import type { GateRequest } from '../../../src/access/request-gate.ts';

const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

describe('basicCredentials', () => {
  it('reads user and password as UTF-8, the user ending at the first colon', () => {
    const cases: [string, string, string][] = [
      [basic('alice:secret'), 'alice', 'secret'],
      [basic('alice:pa:ss:word'), 'alice', 'pa:ss:word'],
      [basic('alice:'), 'alice', ''],
      [basic('José:contraseña ñ'), 'José', 'contraseña ñ'],
      [`bAsIc   ${Buffer.from('a:b').toString('base64')}`, 'a', 'b'],
      [`Basic ${Buffer.from('ab:c').toString('base64').replace(/=+$/, '')}`, 'ab', 'c'],
    ];
    for (const [header, user, password] of cases) {
      const got = basicCredentials(['Host', 'x', 'Authorization', header]);
      assert.deepEqual(got, { kind: 'basic', authorization: header, user, password }, header);
    }
  });

  it('tells no credentials from malformed ones', () => {
    assert.deepEqual(basicCredentials(['Host', 'x']), { kind: 'none' });
    const malformed = [
      'Bearer abc',
      'Basic',
      'Basic ',
      'Basic !!!!',
      `Basic ${Buffer.from('no colon').toString('base64')}`,
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, // not UTF-8
      'Basic YWJj=d', // padding inside
      'Basic YWJjZ', // 4n+1 characters cannot be base64
    ];
    for (const header of malformed) {
      assert.deepEqual(basicCredentials(['authorization', header]), { kind: 'malformed' }, header);
    }
    const twice = ['authorization', basic('a:b'), 'Authorization', basic('a:b')];
    assert.deepEqual(basicCredentials(twice), { kind: 'malformed' }, 'sent twice');
  });
});

describe('LoginCache', () => {
  it('remembers a login for its time to live, keyed by the file content too', () => {
    const cache = new LoginCache(1_000, 10);
    const key = cache.keyOf('sha-1', basic('a:b'));
    assert.notEqual(key, cache.keyOf('sha-2', basic('a:b')), 'another file content, another key');
    assert.notEqual(key, cache.keyOf('sha-1', basic('a:c')));
    assert.ok(!key.includes('a:b') && !key.includes(basic('a:b')));
    assert.notEqual(key, new LoginCache().keyOf('sha-1', basic('a:b')), 'a key per process');
    cache.add(key, 0);
    assert.ok(cache.has(key, 999));
    assert.ok(!cache.has(key, 1_000));
    assert.equal(cache.size, 0, 'an expired entry is dropped when met');
  });

  it('holds at most its bound, forgetting the oldest first', () => {
    const cache = new LoginCache(60_000, 3);
    for (const k of ['a', 'b', 'c', 'd']) cache.add(k, 0);
    assert.equal(cache.size, 3);
    assert.ok(!cache.has('a', 1) && cache.has('b', 1) && cache.has('d', 1));
  });
});

/** A hasher that records what it was asked and answers "the password is `secret`". */
function fakeHasher(): PasswordHasher & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    compare: async (password, hash) => {
      calls.push(hash);
      return password === 'secret';
    },
  };
}

const FILE: HtpasswdFile = {
  path: '/etc/htpasswd',
  sha256: 'f1',
  users: new Map([['alice', '$2y$10$alice']]),
  dummy: '$2b$10$dummy',
};

function gateRequest(headers: string[], file: HtpasswdFile = FILE): GateRequest {
  return {
    req: { rawHeaders: headers },
    snapshot: { htpasswd: { files: new Map([[file.path, file]]), warnings: [] } },
    route: { site: 's', path: '/p/' },
  } as unknown as GateRequest;
}

const CONFIG = { realm: 'r', htpasswd_file: FILE.path };

describe('BasicAuthVerifier', () => {
  it('compares an unknown user against the dummy hash, so it costs the same, and refuses', async () => {
    const hasher = fakeHasher();
    const failures: string[] = [];
    const auth = new BasicAuthVerifier({ hasher, onFailure: (r) => failures.push(r.path) });
    assert.equal(
      await auth.check(CONFIG, gateRequest(['authorization', basic('alice:secret')])),
      true,
    );
    assert.equal(
      await auth.check(CONFIG, gateRequest(['authorization', basic('mallory:secret')])),
      false,
    );
    assert.equal(
      await auth.check(CONFIG, gateRequest(['authorization', basic('alice:guess')])),
      false,
    );
    assert.deepEqual(hasher.calls, ['$2y$10$alice', '$2b$10$dummy', '$2y$10$alice']);
    assert.deepEqual(failures, ['/p/', '/p/'], 'wrong user and wrong password count');
  });

  it('answers without bcrypt, and without counting, when there are no credentials; malformed ones count', () => {
    const hasher = fakeHasher();
    let failures = 0;
    const auth = new BasicAuthVerifier({ hasher, onFailure: () => failures++ });
    assert.equal(auth.check(CONFIG, gateRequest([])), false);
    assert.equal(failures, 0);
    assert.equal(auth.check(CONFIG, gateRequest(['authorization', 'Basic !!'])), false);
    assert.equal(failures, 1);
    assert.deepEqual(hasher.calls, []);
  });

  it('remembers a verified login (synchronously, no bcrypt) until the file changes', async () => {
    const hasher = fakeHasher();
    let now = 0;
    const auth = new BasicAuthVerifier({ hasher, onFailure: () => undefined, now: () => now });
    const request = gateRequest(['authorization', basic('alice:secret')]);
    assert.equal(await auth.check(CONFIG, request), true);
    assert.equal(auth.check(CONFIG, request), true, 'a plain true: no promise, no bcrypt');
    assert.equal(hasher.calls.length, 1);
    now = 61_000;
    assert.equal(await auth.check(CONFIG, request), true);
    assert.equal(hasher.calls.length, 2, 'the entry expired');
    // The same header against another content of the file: verified again, not remembered.
    const changed = { ...FILE, sha256: 'f2', users: new Map<string, string>() };
    assert.equal(
      await auth.check(CONFIG, gateRequest(['authorization', basic('alice:secret')], changed)),
      false,
    );
    // Failures are never remembered: a wrong password pays bcrypt every time.
    const wrong = gateRequest(['authorization', basic('alice:nope')]);
    await auth.check(CONFIG, wrong);
    await auth.check(CONFIG, wrong);
    assert.equal(hasher.calls.length, 5);
  });

  it('shares one comparison among concurrent checks of the same header', async () => {
    const hasher = fakeHasher();
    let failures = 0;
    const auth = new BasicAuthVerifier({ hasher, onFailure: () => failures++ });
    const guess = gateRequest(['authorization', basic('alice:guess')]);
    const verdicts = await Promise.all([1, 2, 3].map(() => auth.check(CONFIG, guess)));
    assert.deepEqual(verdicts, [false, false, false]);
    assert.equal(hasher.calls.length, 1);
    assert.equal(failures, 3, 'each refused request counts');
  });

  it('fails closed for a file the snapshot does not hold', () => {
    const auth = new BasicAuthVerifier({ hasher: fakeHasher(), onFailure: () => undefined });
    const config = { realm: 'r', htpasswd_file: '/elsewhere' };
    assert.equal(auth.check(config, gateRequest(['authorization', basic('alice:secret')])), false);
  });
});

describe('BcryptPool', () => {
  it('compares on a thread: right, wrong, and against a dummy hash', async () => {
    const pool = new BcryptPool(2);
    try {
      const hash = hashSync('secret', 4);
      assert.equal(await pool.compare('secret', hash), true);
      assert.equal(await pool.compare('Secret', hash), false);
      assert.equal(await pool.compare('secret', `$2y$${hash.slice(4)}`), true);
      assert.equal(await pool.compare('secret', dummyHash(4)), false);
    } finally {
      pool.close();
    }
  });

  it('keeps the event loop free while it compares (bcryptjs alone would hold it in 100 ms slices)', async () => {
    const pool = new BcryptPool(1);
    try {
      await pool.compare('warm', hashSync('warm', 4)); // the thread is up
      const hash = hashSync('secret', 11); // ~150 ms of CPU
      let turns = 0;
      let done = false;
      const spin = () => {
        turns++;
        if (!done) setImmediate(spin);
      };
      setImmediate(spin);
      assert.equal(await pool.compare('secret', hash), true);
      done = true;
      assert.ok(turns > 50, `the loop turned ${turns} times during the comparison`);
    } finally {
      pool.close();
    }
  });

  it('refuses comparisons beyond its queue bound rather than holding them', async () => {
    const pool = new BcryptPool(1);
    try {
      const hash = hashSync('secret', 4);
      const all = Array.from({ length: MAX_QUEUED + 5 }, () => pool.compare('x', hash));
      const settled = await Promise.allSettled(all);
      const busy = settled.filter(
        (s) => s.status === 'rejected' && s.reason instanceof BcryptBusyError,
      );
      // One runs, MAX_QUEUED wait, the rest are refused at once.
      assert.equal(busy.length, 4);
      assert.ok(settled.slice(0, MAX_QUEUED + 1).every((s) => s.status === 'fulfilled'));
    } finally {
      pool.close();
    }
  });
});

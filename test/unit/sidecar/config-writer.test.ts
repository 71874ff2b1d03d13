import assert from 'node:assert/strict';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from '../../../src/sidecar/config-writer.ts';
import { tmpDir } from '../../helpers.ts';

describe('writeFileAtomic', () => {
  it('writes the bytes with mode 0600 and leaves no temp file behind', async (t) => {
    const { dir, cleanup } = await tmpDir();
    t.after(cleanup);
    const path = join(dir, 'proxy.yaml');
    await writeFileAtomic(path, Buffer.from('sites: []\n'));
    assert.equal(await readFile(path, 'utf8'), 'sites: []\n');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['proxy.yaml']);
  });

  it('replaces an existing file by rename (new inode), 0600 whatever the old mode', async (t) => {
    const { dir, cleanup } = await tmpDir();
    t.after(cleanup);
    const path = join(dir, 'proxy.yaml');
    await writeFile(path, 'old\n');
    await chmod(path, 0o644);
    const before = await stat(path);
    await writeFileAtomic(path, Buffer.from('new\n'));
    const after = await stat(path);
    assert.equal(await readFile(path, 'utf8'), 'new\n');
    assert.notEqual(after.ino, before.ino, 'a reader holding the old file keeps the old bytes');
    assert.equal(after.mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['proxy.yaml']);
  });

  it('creates a missing directory 0700 (a native sidecar writes before the proxy starts)', async (t) => {
    const { dir, cleanup } = await tmpDir();
    t.after(cleanup);
    const path = join(dir, 'run', 'proxy.yaml');
    await writeFileAtomic(path, Buffer.from('x\n'));
    assert.equal((await stat(join(dir, 'run'))).mode & 0o777, 0o700);
  });

  it('fails without leaving a temp file when the target cannot be replaced', async (t) => {
    const { dir, cleanup } = await tmpDir();
    t.after(cleanup);
    // A directory at the target path: rename(file, dir) fails after the temp file was written.
    const path = join(dir, 'proxy.yaml');
    await import('node:fs/promises').then((fs) => fs.mkdir(path));
    await assert.rejects(writeFileAtomic(path, Buffer.from('x\n')));
    assert.deepEqual(await readdir(dir), ['proxy.yaml']);
  });
});

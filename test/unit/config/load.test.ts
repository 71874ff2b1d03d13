import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { LIMITS } from '../../../src/config/limits.ts';
import { loadConfigBytes } from '../../../src/config/load.ts';
import { ProxyError } from '../../../src/errors.ts';
import { tmpDir } from '../../helpers.ts';

const hasCode = (code: string) => (err: unknown) => err instanceof ProxyError && err.code === code;

describe('loadConfigBytes', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tmpDir()));
  afterEach(() => cleanup());

  it('returns the bytes and their sha256', async () => {
    const path = join(dir, 'p.yaml');
    await writeFile(path, 'sites: []\n');
    const file = await loadConfigBytes(path);
    assert.equal(file.bytes.toString(), 'sites: []\n');
    assert.equal(file.sha256, createHash('sha256').update('sites: []\n').digest('hex'));
  });

  it('refuses a file over the size cap without reading it', async () => {
    const path = join(dir, 'big.yaml');
    await writeFile(path, Buffer.alloc(LIMITS.maxFileBytes + 1, 0x20));
    await assert.rejects(loadConfigBytes(path), hasCode('ERR_CONFIG_TOO_LARGE'));
  });

  it('reports a missing file, a directory and an unreadable file as unreadable', async (t) => {
    await assert.rejects(
      loadConfigBytes(join(dir, 'missing.yaml')),
      hasCode('ERR_CONFIG_UNREADABLE'),
    );
    await mkdir(join(dir, 'd'));
    await assert.rejects(loadConfigBytes(join(dir, 'd')), hasCode('ERR_CONFIG_UNREADABLE'));
    if (process.getuid?.() === 0) {
      t.diagnostic('root reads mode-000 files; the permission case is checked only as non-root');
      return;
    }
    const path = join(dir, 'secret.yaml');
    await writeFile(path, 'x: 1\n');
    await chmod(path, 0);
    await assert.rejects(loadConfigBytes(path), hasCode('ERR_CONFIG_UNREADABLE'));
  });

  it('retries a read that a writer raced, and returns the settled content', async () => {
    const path = join(dir, 'p.yaml');
    await writeFile(path, 'version: 1\n');
    let writes = 0;
    const file = await loadConfigBytes(path, {
      afterRead: async () => {
        if (writes++ === 0) await writeFile(path, 'version: 22\n');
      },
    });
    assert.equal(file.bytes.toString(), 'version: 22\n');
    assert.equal(writes, 2);
  });

  it('gives up with "changed during read" when the file keeps changing', async () => {
    const path = join(dir, 'p.yaml');
    await writeFile(path, 'v: 0\n');
    let n = 0;
    await assert.rejects(
      loadConfigBytes(path, { afterRead: () => writeFile(path, `v: ${'x'.repeat(++n)}\n`) }),
      (err: unknown) =>
        hasCode('ERR_CONFIG_CHANGED_DURING_READ')(err) &&
        (err as Error).message === 'config file changed during read, please retry',
    );
    assert.equal(n, 3);
  });
});

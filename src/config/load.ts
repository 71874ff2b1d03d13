import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyError } from '../errors.ts';
import { LIMITS } from './limits.ts';

/** The bytes of one config file as read, and their identity. */
export interface ConfigBytes {
  readonly path: string;
  readonly bytes: Buffer;
  readonly sha256: string;
}

/** Test seam: runs between the read and the second stat, where a racing writer would strike. */
export interface LoadHooks {
  readonly afterRead?: () => Promise<void>;
}

const READ_ATTEMPTS = 3;
const RETRY_DELAY_MS = 50;

/**
 * Reads the config file, refusing files over the size cap, and detects a writer racing the read
 * (seed W2): the file is stat-ed before and after; if size, mtime or inode moved, the read is
 * retried a few times and then reported as ERR_CONFIG_CHANGED_DURING_READ.
 */
export async function loadConfigBytes(path: string, hooks: LoadHooks = {}): Promise<ConfigBytes> {
  for (let attempt = 1; ; attempt++) {
    const result = await readOnce(path, hooks);
    if (result !== 'changed') return result;
    if (attempt >= READ_ATTEMPTS) {
      throw new ProxyError(
        'ERR_CONFIG_CHANGED_DURING_READ',
        'config file changed during read, please retry',
      );
    }
    await sleep(RETRY_DELAY_MS * attempt);
  }
}

async function readOnce(path: string, hooks: LoadHooks): Promise<ConfigBytes | 'changed'> {
  let before;
  try {
    before = await stat(path, { bigint: true });
  } catch (err) {
    throw unreadable(path, err);
  }
  if (!before.isFile()) {
    throw new ProxyError('ERR_CONFIG_UNREADABLE', `${path}: not a regular file`);
  }
  checkSize(path, Number(before.size));
  let bytes: Buffer;
  try {
    bytes = await readUpTo(path, Number(before.size) + 1);
  } catch (err) {
    throw unreadable(path, err);
  }
  await hooks.afterRead?.();
  let after;
  try {
    after = await stat(path, { bigint: true });
  } catch {
    return 'changed'; // replaced or removed mid-read: treat like any other change
  }
  const same =
    before.ino === after.ino &&
    before.size === after.size &&
    before.mtimeNs === after.mtimeNs &&
    BigInt(bytes.length) === after.size;
  if (!same) return 'changed';
  return { path, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * Reads at most `limit` bytes (the stat-ed size plus one): a file that grows after the stat stays
 * bounded by the cap, and the extra byte shows up as a size mismatch, that is, as a change.
 */
async function readUpTo(path: string, limit: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(limit);
    let length = 0;
    while (length < limit) {
      const { bytesRead } = await handle.read(buffer, length, limit - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function checkSize(path: string, size: number): void {
  if (size > LIMITS.maxFileBytes) {
    throw new ProxyError(
      'ERR_CONFIG_TOO_LARGE',
      `${path}: ${size} bytes is over the ${LIMITS.maxFileBytes}-byte limit`,
    );
  }
}

function unreadable(path: string, err: unknown): ProxyError {
  const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
  return new ProxyError('ERR_CONFIG_UNREADABLE', `${path}: cannot read (${reason})`, {
    cause: err,
  });
}

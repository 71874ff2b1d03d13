import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, readSync, statSync } from 'node:fs';
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

/*
 * The file is read with synchronous calls on purpose. Each asynchronous step (stat, open,
 * read, read, close, stat) is a trip through libuv's thread pool whose completion waits for
 * the event loop's next turn; under load a turn lasts 10-15 ms, so those six hops were most of
 * a 10,000-site reload's ~100 ms. The file is local (a ConfigMap volume is tmpfs) and capped
 * at LIMITS.maxFileBytes; reading 2 MB synchronously takes about a millisecond.
 */
async function readOnce(path: string, hooks: LoadHooks): Promise<ConfigBytes | 'changed'> {
  let before;
  try {
    before = statSync(path, { bigint: true });
  } catch (err) {
    throw unreadable(path, err);
  }
  if (!before.isFile()) {
    throw new ProxyError('ERR_CONFIG_UNREADABLE', `${path}: not a regular file`);
  }
  checkSize(path, Number(before.size));
  let bytes: Buffer;
  try {
    bytes = readUpTo(path, Number(before.size) + 1);
  } catch (err) {
    throw unreadable(path, err);
  }
  await hooks.afterRead?.();
  let after;
  try {
    after = statSync(path, { bigint: true });
  } catch {
    return 'changed'; // replaced or removed mid-read: treat like any other change
  }
  const same =
    before.ino === after.ino &&
    before.size === after.size &&
    before.mtimeNs === after.mtimeNs &&
    BigInt(bytes.length) === after.size;
  if (!same) return 'changed';
  return { path, bytes, sha256: configSha256(bytes) };
}

/**
 * Reads at most `limit` bytes (the stat-ed size plus one): a file that grows after the stat stays
 * bounded by the cap, and the extra byte shows up as a size mismatch, that is, as a change.
 */
function readUpTo(path: string, limit: number): Buffer {
  // O_NONBLOCK: if the path became a FIFO after the stat, open must not wait for a writer
  // (that would stall the event loop); on a regular file it changes nothing.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buffer = Buffer.allocUnsafe(limit);
    let length = 0;
    while (length < limit) {
      const bytesRead = readSync(fd, buffer, length, limit - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * A config's identity: hex SHA-256 of its exact bytes. The proxy reports it (status, logs) and
 * the sidecar compares it with what it delivered, so both compute it here.
 */
export function configSha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
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

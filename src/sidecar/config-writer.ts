import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with `bytes` so that a reader sees the old file or the new one, never a mix,
 * and a crash leaves one of the two on disk: a temp file in the same directory (rename is only
 * atomic within one filesystem), written and fsync-ed, renamed over the target, then the
 * directory fsync-ed so the rename itself survives a power cut. Mode 0600: the config names
 * upstreams and the admin socket, and only the proxy's uid needs to read it.
 *
 * A missing directory is created 0700: a native sidecar writes the first config before the
 * proxy (which would create its socket directory) has started, and the proxy accepts a 0700
 * directory owned by the shared uid.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // A dot name the proxy never reads, unique per attempt so two writers cannot share it.
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      // Explicit: the umask may only narrow the mode, but a wider one must never slip through.
      await handle.chmod(0o600);
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A node binary that any uid can run, and the cleanup that removes it. */
export interface NodeForOtherUids {
  readonly path: string;
  cleanup(): Promise<void>;
}

/**
 * Copies the running node binary into a fresh 0755 temporary directory, for tests that spawn
 * children as another uid. Why: process.execPath is the checkout's node_modules/node/bin/node,
 * and a checkout under a 0700 directory (root's home, `mktemp -d`) is closed to other uids, so
 * spawning it as uid 4242 fails with EACCES. The children only run `node -e` scripts on
 * built-in modules, so the binary is all they need. The directory and the copy are root's and
 * not writable by others: the uids under test can run the binary, never replace it.
 */
export async function createNodeForOtherUids(): Promise<NodeForOtherUids> {
  const dir = await mkdtemp(join(tmpdir(), 'rp-node-'));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    // mkdtemp creates 0700, and the copy keeps the source's mode, whatever the umask at
    // `npm ci` made it: set both.
    await chmod(dir, 0o755);
    const path = join(dir, 'node');
    await copyFile(process.execPath, path);
    await chmod(path, 0o755);
    return { path, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface KubeletVolume {
  readonly dir: string;
  /** Publishes a new set of keys the way the kubelet's AtomicWriter does. */
  update(files: Record<string, string>): Promise<void>;
}

let counter = 0;

/**
 * A ConfigMap volume as the kubelet lays it out: the data in a timestamped directory
 * (`..2026_11_26_10_15_30.000000001`), a `..data` symlink to it swapped by rename, and one
 * `key -> ..data/key` symlink per key. An update never touches the key symlinks: only `..data`
 * moves, which is why a watcher must watch the directory.
 */
export async function createKubeletVolume(
  dir: string,
  files: Record<string, string>,
): Promise<KubeletVolume> {
  await mkdir(dir, { recursive: true });
  const update = async (next: Record<string, string>) => {
    const now = new Date();
    const stamp =
      `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_` +
      `${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.` +
      String(++counter).padStart(9, '0');
    await mkdir(join(dir, stamp), { mode: 0o755 });
    for (const [key, text] of Object.entries(next)) {
      await writeFile(join(dir, stamp, key), text, { mode: 0o644 });
    }
    let previous: string | undefined;
    try {
      previous = await readlink(join(dir, '..data'));
    } catch {
      previous = undefined;
    }
    await symlink(stamp, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const key of Object.keys(next)) {
      await symlink(join('..data', key), join(dir, key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
    if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
  };
  await update(files);
  return { dir, update };
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

import type { BigIntStats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { chmod, lchown, lstat } from 'node:fs/promises';
import type net from 'node:net';
import { dirname } from 'node:path';
import { isProxyError, ProxyError } from '../errors.ts';
import { ensureSocketDir, listenRestricted, removeStaleSocket } from './socket-dir.ts';

export interface UnixListenOptions {
  /** admin.socket_group: the socket becomes 0660 in this group, its directory 0710. */
  readonly group?: number | undefined;
}

/** A server bound to a Unix socket path that it checked, created restricted, and remembers. */
export interface UnixListener {
  readonly path: string;
  readonly mode: number;
  /** True when something had to be cleaned up first: a socket left by a dead process. */
  readonly removedStale: boolean;
  readonly listening: boolean;
  /**
   * Stops accepting and removes the socket file, but only while the path still holds the very
   * socket we bound ('unlinked'); anything else found there is left alone ('left-alone').
   */
  close(): 'unlinked' | 'left-alone';
}

/**
 * Directory checks (ensureSocketDir), safe stale cleanup (removeStaleSocket: S5 order), a bind
 * that is owner-only at birth (listenRestricted), then the optional group grant. Every failure
 * is a ProxyError: a caller that starts a proxy stops on it.
 */
export async function listenUnixSocket(
  server: net.Server,
  path: string,
  options: UnixListenOptions = {},
): Promise<UnixListener> {
  const { group } = options;
  await ensureSocketDir(dirname(path), undefined, { group });
  let removedStale = false;
  try {
    const existed = await exists(path);
    await removeStaleSocket(path);
    removedStale = existed;
  } catch (err) {
    if (isProxyError(err)) throw err;
    throw new ProxyError('ERR_SOCKET_DIR_UNAVAILABLE', `cannot inspect ${path}: ${String(err)}`, {
      cause: err,
    });
  }
  await listenRestricted(server, path, 0o600);
  let bound: BigIntStats;
  try {
    bound =
      group === undefined ? await lstat(path, { bigint: true }) : await grantGroup(path, group);
  } catch (err) {
    server.close();
    throw err;
  }
  const mode = Number(bound.mode & 0o7777n);
  return {
    path,
    mode,
    removedStale,
    get listening() {
      return server.listening;
    },
    close() {
      // libuv unlinks the bound *path* when the server handle closes, whatever is there by then
      // (checked: it removed a regular file put in the socket's place). So close only while the
      // path is still our inode, checked synchronously right before, leaving no await between
      // the check and the unlink. Otherwise keep the handle open (unref'd) until the process
      // exits: a leaked fd in a stopping process is better than deleting someone else's file.
      if (isSameInode(path, bound)) {
        server.close();
        return 'unlinked';
      }
      server.unref();
      return 'left-alone';
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function isSameInode(path: string, bound: BigIntStats): boolean {
  try {
    const now = lstatSync(path, { bigint: true });
    return now.isSocket() && now.ino === bound.ino && now.dev === bound.dev;
  } catch {
    return false;
  }
}

/**
 * 0600 -> chgrp -> 0660, bracketed by lstat on the same inode: the group gets access only once
 * the file is in the right group, and never to a file that replaced ours. lchown never follows
 * a symlink; chmod would, which is why the inode is compared before and after.
 */
async function grantGroup(path: string, group: number): Promise<BigIntStats> {
  const fail = (why: string): ProxyError =>
    new ProxyError('ERR_SOCKET_MODE', `socket ${path} ${why}; not serving`);
  const before = await lstat(path, { bigint: true });
  if (!before.isSocket()) throw fail('was replaced after bind');
  try {
    await lchown(path, -1, group);
    await chmod(path, 0o660);
  } catch (err) {
    throw fail(`cannot be given to group ${group} (${String(err)})`);
  }
  const after = await lstat(path, { bigint: true });
  if (after.ino !== before.ino || after.dev !== before.dev || !after.isSocket()) {
    throw fail('was replaced during chgrp/chmod');
  }
  if ((after.mode & 0o7777n) !== 0o660n || after.gid !== BigInt(group)) {
    throw fail(
      `has mode ${after.mode.toString(8)} group ${after.gid}, expected 0660 group ${group}`,
    );
  }
  return after;
}

import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { ProxyError } from '../errors.ts';

/*
 * Why the directory is the real defence: unlink(2) does not follow a symlink in the last path
 * component, but connect(2) and bind(2) do, and every path lookup follows symlinks in the
 * *parent* components. Whoever can write to the socket's directory (or swap the directory for a
 * symlink) can therefore redirect our bind, our liveness probe and our unlink, and win any race
 * against the checks in removeStaleSocket. A directory that is ours, real and closed to
 * group/world (OpenSSH StrictModes style) removes the attacker from that position; the lstat
 * checks on the socket path are the second layer. Only the immediate parent is checked: it is
 * the one the proxy creates and owns, and the one the docs require to be 0700.
 */

const PROBE_TIMEOUT_MS = 500;

function currentUid(): number {
  // Files are created with the effective uid, so that is the owner every check compares with.
  const uid = process.geteuid?.();
  if (uid === undefined) {
    throw new ProxyError(
      'ERR_SOCKET_DIR_INSECURE',
      `cannot check the admin socket directory owner on platform ${process.platform}`,
    );
  }
  return uid;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function insecure(dir: string, problem: string, fix: string): ProxyError {
  return new ProxyError(
    'ERR_SOCKET_DIR_INSECURE',
    `admin socket directory ${dir} ${problem}; refusing to use it (fix: ${fix})`,
  );
}

/** Who besides the owner may reach sockets in the directory: `group` gets search (x) access. */
export interface SocketDirOptions {
  readonly group?: number | undefined;
}

/**
 * Creates the socket directory 0700 if missing, then refuses it unless it is ours and closed.
 * With `options.group` (admin.socket_group) the directory must instead belong to that group
 * and may give it search and read access (0710 or 0750), never write: without search access a
 * 0660 socket inside would be unreachable for the group it is meant for.
 */
export async function ensureSocketDir(
  dir: string,
  expectedUid: number = currentUid(),
  options: SocketDirOptions = {},
): Promise<void> {
  const { group } = options;
  let created = false;
  try {
    await mkdir(dir, { mode: 0o700 });
    created = true;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw unavailable(dir, 'create', err);
  }
  if (created && group !== undefined) {
    // Group first, then the mode that uses it: the group never gets access to a directory
    // that still belongs to the creator's primary group.
    try {
      await lchown(dir, -1, group);
      await chmod(dir, 0o710);
    } catch (err) {
      throw unavailable(dir, `give group ${group} access to`, err);
    }
  }
  // Always verify: on EEXIST the entry may be anyone's (mkdir's mode says nothing about it),
  // and even a directory we just created may have been swapped if the parent is not ours.
  let st: Stats;
  try {
    st = await lstat(dir);
  } catch (err) {
    throw unavailable(dir, 'inspect', err);
  }
  if (st.isSymbolicLink()) {
    throw insecure(
      dir,
      'is a symlink',
      `replace it with a real directory: rm ${dir} && mkdir -m 700 ${dir}`,
    );
  }
  if (!st.isDirectory()) {
    throw insecure(
      dir,
      'is not a directory',
      `move it away, or configure another admin socket path`,
    );
  }
  const problems: string[] = [];
  const fixes: string[] = [];
  if (st.uid !== expectedUid) {
    problems.push(`is owned by uid ${st.uid}, expected ${expectedUid}`);
    fixes.push(`chown ${expectedUid} ${dir}`);
  }
  if (group === undefined && (st.mode & 0o077) !== 0) {
    problems.push(`has mode ${octal(st.mode)}, group/world must have no access`);
    fixes.push(`chmod 700 ${dir}`);
  }
  if (group !== undefined) {
    if (st.gid !== group) {
      problems.push(`belongs to group ${st.gid}, expected socket_group ${group}`);
      fixes.push(`chgrp ${group} ${dir}`);
    }
    if ((st.mode & 0o027) !== 0) {
      problems.push(
        `has mode ${octal(st.mode)}, the group must not write and world must have no access`,
      );
      fixes.push(`chmod 710 ${dir}`);
    }
  }
  if (problems.length > 0) throw insecure(dir, problems.join(' and '), fixes.join(' && '));
}

function unavailable(dir: string, action: string, err: unknown): ProxyError {
  return new ProxyError(
    'ERR_SOCKET_DIR_UNAVAILABLE',
    `cannot ${action} admin socket directory ${dir}: ${String(err)} ` +
      '(check that its parent exists and is writable by the proxy user)',
    { cause: err },
  );
}

type Probe = 'live' | 'refused' | 'gone' | { readonly error: string };

/** Connects once to find out whether some process still accepts on the socket. */
function probe(path: string): Promise<Probe> {
  return new Promise((resolve) => {
    const conn = net.connect({ path });
    const done = (result: Probe): void => {
      clearTimeout(timer);
      conn.destroy();
      resolve(result);
    };
    // A listener that is stopped or has a full backlog may neither accept nor refuse: treat
    // silence as "in use" rather than delete a socket someone still holds.
    const timer = setTimeout(
      () => done({ error: `no answer within ${PROBE_TIMEOUT_MS} ms` }),
      PROBE_TIMEOUT_MS,
    );
    conn.once('connect', () => done('live'));
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') done('refused');
      else if (err.code === 'ENOENT') done('gone');
      else done({ error: err.code ?? err.message });
    });
  });
}

/**
 * Removes a socket left behind by a dead process, in the seed's S5 order: exists -> not a
 * symlink -> is a socket -> nobody accepts -> unlink. Anything else is refused, never removed.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (st.isSymbolicLink()) {
    // Never probed either: connect() would follow it into another service (seed W4).
    throw new ProxyError(
      'ERR_SOCKET_PATH_SYMLINK',
      `admin socket path ${path} is a symlink; not following or removing it ` +
        `(inspect it with ls -l ${path}, remove it by hand, and check who can write to its directory)`,
    );
  }
  if (!st.isSocket()) {
    throw new ProxyError(
      'ERR_SOCKET_PATH_NOT_SOCKET',
      `admin socket path ${path} exists and is not a socket; not removing it ` +
        `(move the file away or configure another admin socket path)`,
    );
  }
  const result = await probe(path);
  if (result === 'gone') return;
  if (result === 'live') {
    throw new ProxyError(
      'ERR_SOCKET_IN_USE',
      `another process is listening on admin socket ${path}; stop it first ` +
        `(e.g. ss -xlp | grep ${path}) or configure another admin socket path`,
    );
  }
  if (result !== 'refused') {
    throw new ProxyError(
      'ERR_SOCKET_IN_USE',
      `cannot tell whether admin socket ${path} is still in use (${result.error}); not removing it ` +
        `(check it with ss -xlp | grep ${path}, then remove it by hand if it is stale)`,
    );
  }
  // If the socket was swapped for a symlink since the lstat, unlink removes the link itself,
  // never its target; a swapped directory is what ensureSocketDir rules out.
  await unlink(path);
}

/**
 * Listens on a Unix socket that never exists with wider permissions than `mode`.
 *
 * Approach: narrow the process umask around server.listen(). For pipes, Node's listen() runs
 * libuv's socket()+bind()+listen() synchronously on the main thread (verified with strace:
 * umask(0177), socket, bind, listen, umask(prev), all before listen() returns), so the umask is
 * restored before any other JS runs. Residual risk: the umask is process-wide, so a libuv
 * threadpool fs call creating a file during those microseconds also gets the narrow umask (it
 * can only be stricter, never wider). The rejected alternative, bind `<path>.<pid>.tmp` + chmod +
 * rename (HAProxy), leaves the temp socket with umask permissions for a window, and libuv
 * unlinks the *bound* name on close, so the renamed socket would be left behind as stale.
 */
export async function listenRestricted(
  server: net.Server,
  path: string,
  mode = 0o600,
): Promise<void> {
  if (!Number.isInteger(mode) || (mode & ~0o660) !== 0 || (mode & 0o600) !== 0o600) {
    throw new RangeError(`admin socket mode ${octal(mode)} must be 0600 or 0660`);
  }
  await new Promise<void>((resolve, reject) => {
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const code = err.code === 'EADDRINUSE' ? 'ERR_SOCKET_IN_USE' : 'ERR_LISTEN';
      reject(
        new ProxyError(code, `cannot listen on admin socket ${path}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    server.once('listening', onListening);
    server.once('error', onError);
    // Owner-only at birth whatever `mode` is: group access (0660) is only granted by the
    // explicit chmod below, after the owner and file type were checked.
    const previous = process.umask(0o177);
    try {
      // exclusive: in a cluster worker the bind would otherwise happen later, in the primary,
      // outside this umask window.
      server.listen({ path, exclusive: true });
    } catch (err) {
      server.off('listening', onListening);
      server.off('error', onError);
      reject(err as Error);
    } finally {
      process.umask(previous);
    }
  });
  try {
    await enforceMode(path, mode);
  } catch (err) {
    // Closing a bound pipe server unlinks whatever now sits at the path: close only when that
    // is still a socket of ours, otherwise leave the handle to die with the failed start.
    const now = await lstat(path).catch(() => undefined);
    if (now !== undefined && now.isSocket() && now.uid === currentUid()) server.close();
    throw err;
  }
}

/** Explicit chmod (a umask can only remove bits) bracketed by lstat checks on the same inode. */
async function enforceMode(path: string, mode: number): Promise<void> {
  const uid = currentUid();
  const fail = (why: string): ProxyError =>
    new ProxyError('ERR_SOCKET_MODE', `admin socket ${path} ${why}; closed it, not serving`);
  const before = await lstat(path);
  if (before.isSymbolicLink() || !before.isSocket())
    throw fail('was replaced by a non-socket after bind');
  if (before.uid !== uid) throw fail(`is owned by uid ${before.uid}, expected ${uid}`);
  await chmod(path, mode);
  const after = await lstat(path);
  if (after.ino !== before.ino || after.dev !== before.dev || !after.isSocket()) {
    throw fail('was replaced during chmod');
  }
  if ((after.mode & 0o7777) !== mode) {
    throw fail(`has mode ${octal(after.mode)} after chmod, expected ${octal(mode)}`);
  }
}

import type net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type * as Koffi from 'koffi';
import { ProxyError } from '../errors.ts';
import { handleFd } from '../native/handle-fd.ts';
import { loadKoffi, processLibc } from '../native/koffi.ts';

/** Who is on the other end of a connected Unix socket, as the kernel recorded it at connect/listen time. */
export interface PeerCredentials {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

type ReadCredentials = (fd: number) => PeerCredentials;

// Linux <sys/socket.h>.
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
// macOS <sys/un.h>: getpeereid() has no pid, LOCAL_PEERPID fills it in.
const SOL_LOCAL = 0;
const LOCAL_PEERPID = 2;
// What Linux reports for SO_PEERCRED on a socket that has no peer credentials (e.g. TCP):
// success, pid 0, uid (uid_t)-1. Treating that as a real uid would be a silent bypass.
const NO_UID = 0xffffffff;

// Loaded on first use and cached, success or failure: this runs on every admin connection, and
// koffi.load/func parse and resolve symbols, far too slow to repeat per call.
let cached: ReadCredentials | ProxyError | undefined;

function bind(): ReadCredentials {
  if (cached === undefined) {
    try {
      cached = bindPlatform(loadKoffi());
    } catch (err) {
      cached = new ProxyError(
        'ERR_PEER_CRED_UNAVAILABLE',
        `cannot load the FFI binding (koffi) needed to read peer credentials: ${String(err)}`,
        { cause: err },
      );
    }
  }
  if (cached instanceof ProxyError) throw cached;
  return cached;
}

function bindPlatform(koffi: typeof Koffi): ReadCredentials | ProxyError {
  const socklen = koffi.inout(koffi.pointer('uint32_t'));
  if (process.platform === 'linux') {
    const libc = processLibc();
    const ucred = koffi.struct({ pid: 'int32_t', uid: 'uint32_t', gid: 'uint32_t' });
    const getsockopt = libc.func('getsockopt', 'int', [
      'int',
      'int',
      'int',
      koffi.out(koffi.pointer(ucred)),
      socklen,
    ]);
    const size = koffi.sizeof(ucred);
    return (fd) => {
      const out: Partial<PeerCredentials> = {};
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, out, [size]) !== 0) {
        throw unavailable(`getsockopt(SO_PEERCRED) failed: ${errnoName(koffi.errno())}`);
      }
      const { uid, gid, pid } = out;
      if (uid === undefined || gid === undefined || pid === undefined || uid === NO_UID) {
        throw unavailable('the kernel has no peer credentials for this socket');
      }
      return { uid, gid, pid };
    };
  }
  if (process.platform === 'darwin') {
    // Untested here (CI and the dev VM are Linux); kept so macOS refuses loudly rather than
    // silently, and works if the prototypes below are right.
    const libc = koffi.load('/usr/lib/libSystem.B.dylib');
    const uidOut = koffi.out(koffi.pointer('uint32_t'));
    const getpeereid = libc.func('getpeereid', 'int', ['int', uidOut, uidOut]);
    const pidOut = koffi.out(koffi.pointer('int32_t'));
    const getsockopt = libc.func('getsockopt', 'int', ['int', 'int', 'int', pidOut, socklen]);
    return (fd) => {
      const uid = [0];
      const gid = [0];
      const pid = [0];
      if (getpeereid(fd, uid, gid) !== 0) {
        throw unavailable(`getpeereid failed: ${errnoName(koffi.errno())}`);
      }
      if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, pid, [4]) !== 0) {
        throw unavailable(`getsockopt(LOCAL_PEERPID) failed: ${errnoName(koffi.errno())}`);
      }
      return { uid: uid[0] as number, gid: gid[0] as number, pid: pid[0] as number };
    };
  }
  return unavailable(`peer credentials are not supported on platform ${process.platform}`);
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function unavailable(why: string): ProxyError {
  return new ProxyError('ERR_PEER_CRED_UNAVAILABLE', `cannot read peer credentials: ${why}`);
}

function socketFd(socket: net.Socket): number {
  const fd = handleFd(socket);
  if (fd < 0) {
    throw unavailable('the socket has no file descriptor (closed, or not a Unix socket)');
  }
  return fd;
}

/**
 * Credentials of the process on the other end of a connected Unix socket.
 * On an accepted (server-side) socket: the client. On a connected client socket: the process
 * that called listen(). Throws ERR_PEER_CRED_UNAVAILABLE whenever they cannot be read, so the
 * caller refuses the connection instead of trusting it.
 */
export function getPeerCredentials(socket: net.Socket): PeerCredentials {
  const fd = socketFd(socket);
  return bind()(fd);
}

/**
 * For clients (`ctl`, the sidecar): call after 'connect' and before writing anything, so a
 * socket planted by another user never receives a command or token.
 */
export function assertServerUid(
  socket: net.Socket,
  allowedUids: readonly number[],
): PeerCredentials {
  const creds = getPeerCredentials(socket);
  if (!allowedUids.includes(creds.uid)) {
    throw new ProxyError(
      'ERR_ADMIN_SERVER_UNTRUSTED',
      `the admin socket is served by uid ${creds.uid} (pid ${creds.pid}), expected uid ${allowedUids.join(' or ')}; ` +
        'not sending anything: check which process owns the socket path',
    );
  }
  return creds;
}

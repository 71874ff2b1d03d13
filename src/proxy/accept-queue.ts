import { closeSync } from 'node:fs';
import net from 'node:net';
import { handleFd } from '../native/handle-fd.ts';
import { loadKoffi, processLibc } from '../native/koffi.ts';

/*
 * Why this file exists: since libuv 1.45 (Node 20+), a listening socket accepts ONE connection
 * per event-loop turn (libuv PR #3696, "don't accept() connections in a loop"). Under load a
 * turn serves every ready socket and lasts milliseconds, so a burst of N new connections waits
 * N turns in the kernel's accept queue: 256 connections took 1-2 s to be accepted here, which
 * is the seconds-long p99 every Node server shows at 256 connections (nodejs/performance#95,
 * nodejs/node#57364). No counter shows it: the queue never overflows, no SYN is retransmitted.
 * nginx's `multi_accept` and HAProxy accept in a loop; this does the same, after libuv's own
 * accept, by calling accept4() until the queue is empty and handing each descriptor to Node.
 */

// Linux <sys/socket.h>, <asm-generic/errno.h>: the values are the same on x86-64 and arm64.
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EINTR = 4;
const ECONNABORTED = 103;
const EPROTO = 71;

/**
 * A bound on one drain, so a flood cannot hold the loop: what is left is taken on the next
 * turns, by libuv and by the next drain.
 */
const MAX_PER_DRAIN = 1024;

/** accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC): a descriptor, or -errno. */
type Accept = (listenFd: number) => number;

let accept: Accept | null | undefined;

function bindAccept(): Accept | null {
  if (accept !== undefined) return accept;
  accept = null;
  if (process.platform !== 'linux') return accept;
  try {
    const koffi = loadKoffi();
    const accept4 = processLibc().func('accept4', 'int', ['int', 'void *', 'void *', 'int']);
    const flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    accept = (fd) => {
      const result = accept4(fd, null, null, flags) as number;
      return result >= 0 ? result : -koffi.errno();
    };
  } catch {
    // Without FFI the proxy still works, with libuv's one accept per turn.
  }
  return accept;
}

/**
 * Makes `server` accept every waiting connection whenever libuv accepts one. Each extra socket
 * is set up as Node's own accept would for an http.Server (no Nagle), passed to `adopt` (so the
 * caller can track it for shutdown: net.Server does not count it) and then emitted as
 * 'connection', where http.Server takes it like any other. Returns false, changing nothing,
 * where accept4 cannot be bound (not Linux, no FFI).
 */
export function drainAcceptQueue(server: net.Server, adopt: (socket: net.Socket) => void): boolean {
  const acceptOne = bindAccept();
  if (acceptOne === null) return false;
  let draining = false;
  server.on('connection', () => {
    // The sockets emitted below come through this listener too.
    if (draining) return;
    const fd = handleFd(server);
    if (fd < 0) return;
    draining = true;
    try {
      for (let n = 0; n < MAX_PER_DRAIN; n++) {
        const client = acceptOne(fd);
        if (client < 0) {
          if (client === -EINTR || client === -ECONNABORTED || client === -EPROTO) continue;
          // EAGAIN (queue empty) ends the drain; EMFILE and friends are left to libuv, which
          // sheds load with its spare-descriptor trick on the next turn.
          break;
        }
        const socket = wrap(client);
        if (socket === null) continue;
        adopt(socket);
        server.emit('connection', socket);
      }
    } finally {
      draining = false;
    }
  });
  return true;
}

function wrap(fd: number): net.Socket | null {
  try {
    const socket = new net.Socket({ fd, readable: true, writable: true });
    socket.setNoDelay(true);
    return socket;
  } catch {
    closeSync(fd);
    return null;
  }
}

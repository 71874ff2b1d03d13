import type net from 'node:net';

/**
 * The file descriptor under a socket or server, or -1 (closed, or no descriptor). Node does not
 * expose it publicly; on Unix its libuv handle (`_handle`, a TCP or Pipe wrap) has `fd`. The one
 * place this project reaches into that internal.
 */
export function handleFd(owner: net.Socket | net.Server): number {
  const fd = (owner as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

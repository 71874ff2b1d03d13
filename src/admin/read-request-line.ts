import type net from 'node:net';

/** A line, or why there is none. */
export type ReadResult =
  { readonly line: string } | { readonly failure: 'too_long' | 'timeout' | 'closed' };

/**
 * Reads one request line: up to and excluding the first `\n`, or everything before the client
 * half-closed (`printf status | socat`). Holds at most `maxBytes` (newline included), and gives
 * up after `timeoutMs` in total: a deadline, not an idle timer, so trickling a byte a second
 * cannot hold a connection slot longer. Stops reading once it has decided.
 */
export function readRequestLine(
  socket: net.Socket,
  maxBytes: number,
  timeoutMs: number,
): Promise<ReadResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: ReadResult): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      const newline = chunk.indexOf(0x0a);
      const usable = newline === -1 ? chunk : chunk.subarray(0, newline);
      if (size + usable.length + (newline === -1 ? 0 : 1) > maxBytes) {
        finish({ failure: 'too_long' });
        return;
      }
      chunks.push(usable);
      size += usable.length;
      if (newline !== -1) finish({ line: Buffer.concat(chunks).toString('utf8') });
      // Without a newline, a full buffer can only become too long: say so now, not at 5 s.
      else if (size >= maxBytes) finish({ failure: 'too_long' });
    };
    const onEnd = (): void => {
      finish(size === 0 ? { failure: 'closed' } : { line: Buffer.concat(chunks).toString('utf8') });
    };
    const onClose = (): void => finish({ failure: 'closed' });
    const timer = setTimeout(() => finish({ failure: 'timeout' }), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
  });
}

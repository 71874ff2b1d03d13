import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readRequestLine } from '../../../src/admin/read-request-line.ts';
import type { ReadResult } from '../../../src/admin/read-request-line.ts';

describe('readRequestLine', () => {
  let dir: string;
  let server: net.Server;
  let socketPath: string;
  let limits = { maxBytes: 16, timeoutMs: 300 };
  const results: ((r: ReadResult) => void)[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'read-line-'));
    socketPath = join(dir, 'line.sock');
    server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      void readRequestLine(socket, limits.maxBytes, limits.timeoutMs).then((r) => {
        results.shift()?.(r);
        socket.destroy();
      });
    });
    server.listen(socketPath);
    await once(server, 'listening');
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Sends the chunks (with a pause between them) and resolves with what the server read. */
  async function send(chunks: string[], options: { end?: boolean; gapMs?: number } = {}) {
    const result = new Promise<ReadResult>((resolve) => results.push(resolve));
    const client = net.connect(socketPath);
    client.on('error', () => undefined);
    await once(client, 'connect');
    for (const chunk of chunks) {
      client.write(chunk);
      await new Promise((r) => setTimeout(r, options.gapMs ?? 5));
    }
    if (options.end) client.end();
    const read = await result;
    client.destroy();
    return read;
  }

  it('returns the line without its newline, even when split across packets', async () => {
    assert.deepEqual(await send(['sta', 'tus\nignored']), { line: 'status' });
  });

  it('takes a half-closed line without newline as the line', async () => {
    assert.deepEqual(await send(['reload'], { end: true }), { line: 'reload' });
  });

  it('reports a client that hangs up without a byte as closed', async () => {
    assert.deepEqual(await send([], { end: true }), { failure: 'closed' });
  });

  it('accepts exactly maxBytes with the newline, refuses one more', async () => {
    assert.deepEqual(await send([`${'a'.repeat(15)}\n`]), { line: 'a'.repeat(15) });
    assert.deepEqual(await send([`${'a'.repeat(16)}\n`]), { failure: 'too_long' });
  });

  it('refuses a full buffer without newline at once, not at the deadline', async () => {
    const started = Date.now();
    assert.deepEqual(await send(['a'.repeat(16)]), { failure: 'too_long' });
    assert.ok(Date.now() - started < 250);
  });

  it('is a deadline for the whole line: trickling bytes does not extend it', async () => {
    limits = { maxBytes: 4096, timeoutMs: 200 };
    const trickle = Array.from({ length: 20 }, () => 'x');
    assert.deepEqual(await send(trickle, { gapMs: 30 }), { failure: 'timeout' });
  });
});

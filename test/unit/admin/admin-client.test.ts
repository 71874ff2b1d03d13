import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sendAdminCommand } from '../../../src/admin/admin-client.ts';
import { isProxyError } from '../../../src/errors.ts';

const me = process.geteuid?.() ?? 0;
let dir: string;
const servers: net.Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'admin-client-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

/** A fake admin server that records the request line and answers with `answer`. */
async function fake(answer: (line: string, socket: net.Socket) => void): Promise<string> {
  const socketPath = join(dir, `fake${servers.length}.sock`);
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.includes('\n')) answer(buffer, socket);
    });
  });
  servers.push(server);
  server.listen(socketPath);
  await once(server, 'listening');
  return socketPath;
}

const code = (expected: string) => (err: unknown) => isProxyError(err) && err.code === expected;
const base = { command: 'status', expectedUids: [me], timeoutMs: 1_000 };

describe('sendAdminCommand', () => {
  it('sends `<token>:<command>\\n` and returns the parsed reply', async () => {
    let seen = '';
    const socketPath = await fake((line, s) => {
      seen = line;
      s.end('{"status":"ok","generation":2}\n');
    });
    const reply = await sendAdminCommand({ ...base, socketPath, token: 'tok' });
    assert.deepEqual(reply, { status: 'ok', generation: 2 });
    assert.equal(seen, 'tok:status\n');
  });

  it('sends the bare command without a token', async () => {
    let seen = '';
    const socketPath = await fake((line, s) => {
      seen = line;
      s.end('{"status":"error","message":"unknown command"}\n');
    });
    const reply = await sendAdminCommand({ ...base, socketPath, token: '' });
    assert.equal(reply.status, 'error');
    assert.equal(seen, 'status\n');
  });

  it('ERR_ADMIN_UNREACHABLE when nothing listens or no reply comes in time', async () => {
    await assert.rejects(
      sendAdminCommand({ ...base, socketPath: join(dir, 'none.sock') }),
      code('ERR_ADMIN_UNREACHABLE'),
    );
    const silent = await fake(() => undefined);
    await assert.rejects(
      sendAdminCommand({ ...base, socketPath: silent, timeoutMs: 100 }),
      code('ERR_ADMIN_UNREACHABLE'),
    );
  });

  it('ERR_ADMIN_PROTOCOL on a close without reply, non-JSON, or JSON without status', async () => {
    for (const answer of ['', 'hello\n', '{"ok":true}\n', '["ok"]\n']) {
      const socketPath = await fake((_line, s) => s.end(answer));
      await assert.rejects(sendAdminCommand({ ...base, socketPath }), code('ERR_ADMIN_PROTOCOL'));
    }
  });

  it('ERR_ADMIN_SERVER_UNTRUSTED, having sent nothing, when the server uid is not expected', async () => {
    let received = 0;
    const socketPath = await fake(() => undefined);
    servers[0]?.on('connection', (s) => s.on('data', (c: Buffer) => (received += c.length)));
    await assert.rejects(
      sendAdminCommand({ ...base, socketPath, expectedUids: [me + 1], token: 'secret' }),
      code('ERR_ADMIN_SERVER_UNTRUSTED'),
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(received, 0);
  });

  it('refuses a multi-line command before connecting', async () => {
    await assert.rejects(
      sendAdminCommand({ ...base, socketPath: join(dir, 'x.sock'), command: 'status\nreload' }),
      RangeError,
    );
  });
});

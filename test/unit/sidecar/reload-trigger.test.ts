import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { AdminReply } from '../../../src/admin/admin-protocol.ts';
import { ProxyError } from '../../../src/errors.ts';
import { reloadAndConfirm } from '../../../src/sidecar/reload-trigger.ts';
import { SidecarMetrics } from '../../../src/sidecar/sidecar-metrics.ts';

const SHA = 'a'.repeat(64);
type Step = AdminReply | ProxyError;

/** A scripted admin socket: each command takes the next step; records what was sent. */
function scripted(steps: Step[]) {
  const sent: string[] = [];
  const send = ({ command }: { command: string }) => {
    sent.push(command);
    const step = steps.shift();
    if (step === undefined) throw new Error(`unexpected command ${command}`);
    return step instanceof ProxyError ? Promise.reject(step) : Promise.resolve(step);
  };
  return { sent, send };
}

function options(send: ReturnType<typeof scripted>['send'], maxAttempts = 5) {
  return {
    target: { socketPath: '/nowhere.sock', expectedUids: [0], timeoutMs: 100 },
    maxAttempts,
    backoff: { baseMs: 1, maxMs: 2 },
    log: pino({ level: 'silent' }),
    metrics: new SidecarMetrics(),
    send,
  };
}

const unreachable = () => new ProxyError('ERR_ADMIN_UNREACHABLE', 'no socket');
const ok: AdminReply = { status: 'ok', outcome: 'applied' };
const status = (sha: string): AdminReply => ({ status: 'ok', generation: 2, config_sha256: sha });

describe('reloadAndConfirm', () => {
  it('reloads, then confirms with status that the proxy serves the delivered sha256', async () => {
    const { sent, send } = scripted([ok, status(SHA)]);
    const result = await reloadAndConfirm(options(send), SHA, new AbortController().signal);
    assert.deepEqual(sent, ['reload', 'status']);
    assert.equal(result?.attempts, 1);
  });

  it('retries while the socket is unreachable (the proxy restarting)', async () => {
    const { sent, send } = scripted([unreachable(), unreachable(), ok, status(SHA)]);
    const result = await reloadAndConfirm(options(send), SHA, new AbortController().signal);
    assert.deepEqual(sent, ['reload', 'reload', 'reload', 'status']);
    assert.equal(result?.attempts, 3);
  });

  it('retries when status shows another sha256, and gives up with ERR_RELOAD_NOT_CONFIRMED', async () => {
    const { send } = scripted([ok, status('b'.repeat(64)), ok, status('b'.repeat(64))]);
    await assert.rejects(reloadAndConfirm(options(send, 2), SHA, new AbortController().signal), {
      code: 'ERR_RELOAD_NOT_CONFIRMED',
    });
  });

  it('does not retry an error reply or an untrusted socket owner', async () => {
    const rejected = scripted([{ status: 'error', message: 'reload failed' }]);
    await assert.rejects(
      reloadAndConfirm(options(rejected.send), SHA, new AbortController().signal),
      { code: 'ERR_RELOAD_REJECTED' },
    );
    assert.deepEqual(rejected.sent, ['reload']);
    const untrusted = scripted([new ProxyError('ERR_ADMIN_SERVER_UNTRUSTED', 'uid 1234')]);
    await assert.rejects(
      reloadAndConfirm(options(untrusted.send), SHA, new AbortController().signal),
      { code: 'ERR_ADMIN_SERVER_UNTRUSTED' },
    );
    assert.deepEqual(untrusted.sent, ['reload']);
  });

  it('retries the one error reply that asks for it (file changed during read)', async () => {
    const { sent, send } = scripted([
      { status: 'error', message: 'config file changed during read, please retry' },
      ok,
      status(SHA),
    ]);
    await reloadAndConfirm(options(send), SHA, new AbortController().signal);
    assert.deepEqual(sent, ['reload', 'reload', 'status']);
  });

  it('stops quietly when superseded', async () => {
    const controller = new AbortController();
    const { send } = scripted([unreachable()]);
    const opts = { ...options(send), backoff: { baseMs: 10_000, maxMs: 10_000 } };
    const pending = reloadAndConfirm(opts, SHA, controller.signal);
    setTimeout(() => controller.abort(), 20);
    assert.equal(await pending, undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAdminCommands } from '../../../src/admin/commands.ts';
import type { LastReload } from '../../../src/config/last-reload.ts';
import type { ReloadResult } from '../../../src/config/reloader.ts';
import { compileSnapshot } from '../../../src/config/snapshot.ts';
import { ConfigStore } from '../../../src/config/store.ts';
import type { ProxyConfig } from '../../../src/config/types.ts';
import { ConfigInvalidError, ProxyError } from '../../../src/errors.ts';
import { ROOT } from '../../helpers.ts';
import { routeConfig } from '../../route-config.ts';

const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

const config = {
  workers: 1,
  listeners: [{ address: '127.0.0.1:0', tls: false }],
  admin: { socket: '', allowed_uids: [], max_connections: 10 },
  health: { address: '', max_connections: 64 },
  trusted_proxies: [],
  client: {
    header_timeout_ms: 60_000,
    body_idle_timeout_ms: 60_000,
    body_min_rate_bytes_per_s: 512,
    request_timeout_ms: 300_000,
    keepalive_timeout_ms: 75_000,
  },
  upstream_pool: { max_connections: 1024, max_queued: 1024 },
  tls: { min_version: 'TLSv1.2', certificates: [] },
  shutdown: { drain_delay_ms: 0, grace_period_ms: 0 },
  log: { level: 'info', access_log: false },
  sites: [
    {
      name: 'a',
      hosts: ['a.example'],
      routes: [routeConfig({ path: '/', upstream: 'http://127.0.0.1:1', timeout_ms: 1000 })],
      https_redirect: false,
    },
  ],
} as ProxyConfig;

function commandsWith(reload: () => Promise<ReloadResult>, last?: LastReload) {
  const store = new ConfigStore(compileSnapshot(structuredClone(config), 'a'.repeat(64), 3));
  return createAdminCommands({
    store,
    reloader: { reload, lastReload: () => last },
    startedAt: 1_000,
    now: () => 62_500,
  });
}

const never = () => Promise.reject(new Error('not called'));

describe('admin commands', () => {
  it('status reports uptime in whole seconds, sites, generation, hash, version, no reload yet', async () => {
    const { reply, outcome } = await commandsWith(never)('status', 't');
    assert.equal(outcome, 'ok');
    assert.deepEqual(reply, {
      status: 'ok',
      uptime_secs: 61,
      sites: 1,
      generation: 3,
      config_sha256: 'a'.repeat(64),
      version: VERSION,
      last_reload: null,
    });
  });

  it("status shows the last reload's time, outcome and code, and nothing else (C3)", async () => {
    const applied = { time: '2026-01-02T03:04:05.000Z', outcome: 'applied' } as const;
    assert.deepEqual(
      (await commandsWith(never, applied)('status', 't')).reply.last_reload,
      applied,
    );
    // Whatever a LastReload might carry one day, only the three fields reach the client.
    const failed = {
      time: '2026-01-02T03:04:05.000Z',
      outcome: 'failed',
      code: 'ERR_CONFIG_INVALID',
      message: '/etc/secret/proxy.yaml: sites[0] is wrong',
      errors: ['/etc/secret'],
    } as LastReload;
    const { reply } = await commandsWith(never, failed)('status', 't');
    assert.deepEqual(reply.last_reload, {
      time: '2026-01-02T03:04:05.000Z',
      outcome: 'failed',
      code: 'ERR_CONFIG_INVALID',
    });
    assert.doesNotMatch(JSON.stringify(reply), /secret/);
  });

  it('reload reports restart_required only when static fields changed (W6)', async () => {
    const result = (restartRequired: string[]): ReloadResult => ({
      outcome: 'applied',
      generation: 4,
      previousSha256: 'a'.repeat(64),
      sha256: 'b'.repeat(64),
      restartRequired,
    });
    const plain = await commandsWith(async () => result([]))('reload', 't');
    assert.deepEqual(plain.reply, {
      status: 'ok',
      outcome: 'applied',
      generation: 4,
      config_sha256: 'b'.repeat(64),
    });
    assert.equal(plain.audit.previous_sha256, 'a'.repeat(64));
    const changed = await commandsWith(async () => result(['listeners', 'admin.socket']))(
      'reload',
      't',
    );
    assert.deepEqual(changed.reply.restart_required, ['listeners', 'admin.socket']);
    assert.equal(
      changed.reply.message,
      'static fields changed (restart required): listeners, admin.socket',
    );
  });

  it('a failed reload answers "reload failed" only; the code goes to the audit record (C3)', async () => {
    const failure = new ConfigInvalidError([
      { path: 'sites[0]', message: '/etc/secret/path is wrong' },
    ]);
    const { reply, outcome, audit } = await commandsWith(() => Promise.reject(failure))(
      'reload',
      't',
    );
    assert.equal(outcome, 'error');
    assert.deepEqual(reply, { status: 'error', message: 'reload failed' });
    assert.equal(audit.code, 'ERR_CONFIG_INVALID');
    const unexpected = await commandsWith(() => Promise.reject(new Error('EACCES /x')))(
      'reload',
      't',
    );
    assert.deepEqual(unexpected.reply, { status: 'error', message: 'reload failed' });
    assert.equal(unexpected.audit.code, 'ERR_INTERNAL');
  });

  it('a file changed during the read asks the caller to retry (W2)', async () => {
    const changed = new ProxyError('ERR_CONFIG_CHANGED_DURING_READ', 'x');
    const { reply } = await commandsWith(() => Promise.reject(changed))('reload', 't');
    assert.deepEqual(reply, {
      status: 'error',
      message: 'config file changed during read, please retry',
    });
  });

  it('anything else is an unknown command, not echoed', async () => {
    const { reply, outcome } = await commandsWith(never)('<b>status</b>', 't');
    assert.equal(outcome, 'unknown_command');
    assert.deepEqual(reply, { status: 'error', message: 'unknown command' });
  });
});

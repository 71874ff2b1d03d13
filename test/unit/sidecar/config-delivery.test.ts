import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ConfigDelivery } from '../../../src/sidecar/config-delivery.ts';
import type { EventRecorder } from '../../../src/sidecar/events.ts';
import type { ReloadConfirmation } from '../../../src/sidecar/reload-trigger.ts';
import { SidecarMetrics } from '../../../src/sidecar/sidecar-metrics.ts';
import { makeCertificate } from '../../certs.ts';
import { configYaml, sha256Hex, site, tmpDir } from '../../helpers.ts';

const object = { namespace: 'ns', name: 'proxy-config' };
const good = (port: number) =>
  Buffer.from(configYaml(site('main', ['*'], [['/', `http://127.0.0.1:${port}`]])));

interface Harness {
  readonly delivery: ConfigDelivery;
  readonly path: string;
  readonly reloads: string[];
  readonly events: { type: string; reason: string; message: string }[];
  readonly metrics: SidecarMetrics;
  writes: number;
}

async function harness(
  t: { after: (fn: () => Promise<void>) => void },
  options: {
    debounceMs?: number;
    reload?: (sha256: string, signal: AbortSignal) => Promise<ReloadConfirmation | undefined>;
    exclusive?: <T>(work: () => Promise<T>) => Promise<T>;
  } = {},
): Promise<Harness> {
  const { dir, cleanup } = await tmpDir();
  const path = join(dir, 'proxy.yaml');
  const reloads: string[] = [];
  const events: Harness['events'] = [];
  const metrics = new SidecarMetrics();
  const recorder: EventRecorder = {
    record: (type, reason, message) => events.push({ type, reason, message }),
    flush: () => Promise.resolve(),
  };
  const h: Harness = {
    path,
    reloads,
    events,
    metrics,
    writes: 0,
    delivery: new ConfigDelivery({
      configOut: path,
      sourceName: 'configmap ns/proxy-config[proxy.yaml]',
      validateOptions: { allowWildcardBind: false },
      debounceMs: options.debounceMs ?? 50,
      reload: async (sha256, signal) => {
        reloads.push(sha256);
        if (options.reload) return options.reload(sha256, signal);
        return {
          attempts: 1,
          reload: { status: 'ok', outcome: 'applied' },
          status: { status: 'ok', generation: reloads.length, config_sha256: sha256 },
        };
      },
      events: recorder,
      log: pino({ level: 'silent' }),
      metrics,
      exclusive: options.exclusive,
      write: async (p, bytes) => {
        h.writes++;
        await writeFile(p, bytes, { mode: 0o600 });
      },
    }),
  };
  t.after(async () => {
    await h.delivery.stop();
    await cleanup();
  });
  return h;
}

async function metricValue(metrics: SidecarMetrics, name: string, labels = ''): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('ConfigDelivery', () => {
  it('delivers the first valid config at once, then reports ready and applied', async (t) => {
    const h = await harness(t, { debounceMs: 10_000 });
    assert.deepEqual(h.delivery.notReady(), ['waiting for the first config']);
    const bytes = good(9001);
    h.delivery.offer({ kind: 'content', bytes, object });
    await h.delivery.idle();
    assert.deepEqual(await readFile(h.path), bytes);
    assert.deepEqual(h.delivery.notReady(), []);
    assert.deepEqual(h.reloads, [sha256Hex(bytes)]);
    assert.deepEqual(
      h.events.map((e) => `${e.type} ${e.reason}`),
      ['Normal ConfigApplied'],
    );
    assert.equal(await metricValue(h.metrics, 'reverse_proxy_sidecar_last_reload_successful'), 1);
  });

  it('writes and reloads only inside `exclusive` (while a certificate rotation holds it, it waits)', async (t) => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inside = false;
    const h = await harness(t, {
      exclusive: async (work) => {
        await held;
        inside = true;
        try {
          return await work();
        } finally {
          inside = false;
        }
      },
      reload: (sha256) => {
        assert.ok(inside, 'the reload runs inside exclusive');
        return Promise.resolve({
          attempts: 1,
          reload: { status: 'ok', outcome: 'applied' },
          status: { status: 'ok', generation: 1, config_sha256: sha256 },
        });
      },
    });
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(h.writes, 0, 'nothing written while another holds the turn');
    release();
    await h.delivery.idle();
    assert.equal(h.writes, 1);
    assert.equal(h.reloads.length, 1);
  });

  it('checks a config refused for its certificate files again when asked (a fixed TLS Secret)', async (t) => {
    const h = await harness(t);
    assert.equal(h.delivery.recheckRefused(), false, 'nothing refused yet');
    const { dir, cleanup } = await tmpDir();
    t.after(cleanup);
    const crt = join(dir, 'tls.crt');
    const key = join(dir, 'tls.key');
    const bytes = Buffer.from(`listeners:
  - address: 127.0.0.1:0
    tls: true
admin:
  socket: ''
health:
  address: 127.0.0.1:0
tls:
  certificates:
    - { cert_file: ${crt}, key_file: ${key} }
sites:
${site('main', ['*'], [['/', 'http://127.0.0.1:9001']])}`);
    h.delivery.offer({ kind: 'content', bytes, object });
    await h.delivery.idle();
    assert.equal(h.writes, 0, 'refused: the certificate files are missing');
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['ConfigRejected'],
    );
    // The same bytes again are still nothing: only recheckRefused() revisits them.
    h.delivery.offer({ kind: 'content', bytes, object });
    await h.delivery.idle();
    assert.equal(h.writes, 0);
    const made = makeCertificate(dir, 'made', ['a.example']);
    await writeFile(crt, await readFile(made.certFile));
    await writeFile(key, await readFile(made.keyFile));
    assert.equal(h.delivery.recheckRefused(), true);
    await h.delivery.idle();
    assert.deepEqual(await readFile(h.path), bytes);
    assert.deepEqual(h.reloads, [sha256Hex(bytes)]);
    assert.equal(h.delivery.recheckRefused(), false, 'delivered: nothing left to check');
  });

  it('does nothing for identical content', async (t) => {
    const h = await harness(t);
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    await h.delivery.idle();
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    await h.delivery.idle();
    assert.equal(h.writes, 1);
    assert.equal(h.reloads.length, 1);
  });

  it('debounces a burst into one delivery of the last content', async (t) => {
    const h = await harness(t, { debounceMs: 100 });
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    await h.delivery.idle();
    for (let port = 9002; port <= 9006; port++) {
      h.delivery.offer({ kind: 'content', bytes: good(port), object });
    }
    await h.delivery.idle();
    assert.equal(h.writes, 2);
    assert.deepEqual(h.reloads, [sha256Hex(good(9001)), sha256Hex(good(9006))]);
    assert.deepEqual(await readFile(h.path), good(9006));
  });

  it('never writes an invalid config, and says why in a Warning Event', async (t) => {
    const h = await harness(t);
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    await h.delivery.idle();
    const before = await stat(h.path);
    const bad = Buffer.from(good(9001).toString().replace('http://127.0.0.1:9001', 'ftp://x'));
    h.delivery.offer({ kind: 'content', bytes: bad, object });
    await h.delivery.idle();
    assert.deepEqual(await readFile(h.path), good(9001));
    assert.equal((await stat(h.path)).mtimeMs, before.mtimeMs);
    assert.equal(h.reloads.length, 1);
    const rejected = h.events.find((e) => e.reason === 'ConfigRejected');
    assert.equal(rejected?.type, 'Warning');
    assert.match(rejected.message, /sites\[0\]\.routes\[0\]\.upstream/);
    assert.equal(
      await metricValue(h.metrics, 'reverse_proxy_sidecar_rejections_total', '{reason="invalid"}'),
      1,
    );
    // The same bad bytes again: no second Event.
    h.delivery.offer({ kind: 'content', bytes: good(9002), object });
    h.delivery.offer({ kind: 'content', bytes: bad, object });
    await h.delivery.idle();
    assert.equal(h.events.filter((e) => e.reason === 'ConfigRejected').length, 2);
  });

  it('stays not ready while the first config is rejected, and a missing key is a rejection', async (t) => {
    const h = await harness(t);
    h.delivery.offer({
      kind: 'invalid',
      code: 'ERR_CONFIGMAP_KEY_MISSING',
      message: 'ConfigMap ns/proxy-config has no key "proxy.yaml" (keys: other)',
      object,
    });
    await h.delivery.idle();
    assert.match(h.delivery.notReady()[0] ?? '', /ERR_CONFIGMAP_KEY_MISSING/);
    assert.equal(
      await metricValue(
        h.metrics,
        'reverse_proxy_sidecar_rejections_total',
        '{reason="key_missing"}',
      ),
      1,
    );
    h.delivery.offer({ kind: 'content', bytes: Buffer.from('sites: [unclosed'), object });
    await h.delivery.idle();
    assert.equal(
      await metricValue(h.metrics, 'reverse_proxy_sidecar_rejections_total', '{reason="parse"}'),
      1,
    );
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    await h.delivery.idle();
    assert.deepEqual(h.delivery.notReady(), []);
  });

  it('reports a reload that fails after its retries but stays ready (the file is in place)', async (t) => {
    const h = await harness(t, {
      reload: () => Promise.reject(new Error('proxy unreachable after 12 attempts')),
    });
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    await h.delivery.idle();
    assert.deepEqual(h.delivery.notReady(), []);
    assert.deepEqual(await readFile(h.path), good(9001));
    const failed = h.events.find((e) => e.reason === 'ReloadFailed');
    assert.equal(failed?.type, 'Warning');
    assert.equal(await metricValue(h.metrics, 'reverse_proxy_sidecar_last_reload_successful'), 0);
  });

  it('lets a newer valid config cancel the retries of an older one, but not an invalid one', async (t) => {
    const gates: (() => void)[] = [];
    const h = await harness(t, {
      debounceMs: 10,
      reload: (sha256, signal) =>
        new Promise((resolve) => {
          // Every reload waits until released or superseded.
          gates.push(() =>
            resolve({
              attempts: 1,
              reload: { status: 'ok' },
              status: { status: 'ok', config_sha256: sha256 },
            }),
          );
          signal.addEventListener('abort', () => resolve(undefined), { once: true });
        }),
    });
    h.delivery.offer({ kind: 'content', bytes: good(9001), object });
    while (h.reloads.length < 1) await new Promise((r) => setTimeout(r, 5));
    h.delivery.offer({ kind: 'content', bytes: Buffer.from('not: [valid'), object });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.reloads.length, 1, 'the invalid config did not start a delivery');
    h.delivery.offer({ kind: 'content', bytes: good(9002), object });
    while (h.reloads.length < 2) await new Promise((r) => setTimeout(r, 5));
    gates[1]?.();
    await h.delivery.idle();
    assert.deepEqual(h.reloads, [sha256Hex(good(9001)), sha256Hex(good(9002))]);
    assert.equal(h.events.filter((e) => e.reason === 'ConfigApplied').length, 1);
    assert.deepEqual(await readFile(h.path), good(9002));
  });
});

import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  configYaml,
  request,
  site,
  startProxy,
  startUpstream,
  tmpDir,
  writeConfig,
} from '../helpers.ts';
import type { Upstream } from '../helpers.ts';

describe('live reload', () => {
  let a: Upstream, b: Upstream;
  let dir: string;
  let cleanup: () => Promise<void>;
  const configFor = (u: Upstream, extra = '') =>
    configYaml(site('main', ['*'], [['/', u.url]]), extra);

  before(async () => {
    a = await startUpstream('A');
    b = await startUpstream('B');
    ({ dir, cleanup } = await tmpDir());
  });
  after(async () => {
    await a.close();
    await b.close();
    await cleanup();
  });

  it('flips between two upstream sets under load without failing a request', async (t) => {
    const path = join(dir, 'flip.yaml');
    await writeConfig(path, configFor(a));
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const served = { A: 0, B: 0 };
    const failures: string[] = [];
    let running = true;
    const client = async () => {
      while (running) {
        try {
          const reply = await request(`${proxy.url}/`, { host: 'any.example', agent });
          const who = reply.body.split(' ')[0];
          if (reply.status !== 200 || (who !== 'A' && who !== 'B'))
            failures.push(`${reply.status} ${reply.body}`);
          else served[who]++;
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const clients = Array.from({ length: 16 }, client);
    let applied = 0;
    let brokenRejected = false;
    const deadline = Date.now() + 4_000;
    try {
      for (let i = 0; Date.now() < deadline; i++) {
        if (i === 10) {
          // A broken config mid-run: rejected, and the current table keeps serving.
          await writeConfig(path, configFor(a).replace('upstream:', 'upstreem:'));
          const outcome = await proxy.reload();
          assert.equal(outcome.msg, 'reload failed; the previous config keeps serving');
          brokenRejected = true;
          continue;
        }
        await writeConfig(path, configFor(applied % 2 === 0 ? b : a));
        const outcome = await proxy.reload();
        assert.equal(outcome.msg, 'reload applied', JSON.stringify(outcome));
        applied++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      // Whatever failed above, the clients must stop or the test never ends.
      running = false;
      await Promise.all(clients);
      agent.destroy();
    }
    assert.equal(proxy.child.exitCode, null, 'the proxy is still running');
    assert.ok(brokenRejected);
    assert.ok(applied >= 20, `only ${applied} reloads applied`);
    assert.deepEqual(failures, []);
    assert.ok(served.A > 0 && served.B > 0, `both sets served: ${JSON.stringify(served)}`);
    const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
    assert.match(metrics, new RegExp(`reverse_proxy_config_generation ${applied + 1}\\b`));
    assert.match(
      metrics,
      /reverse_proxy_config_reload_failures_total\{code="ERR_CONFIG_INVALID"\} 1/,
    );
    assert.equal(await proxy.stop(), 0);
  });

  it('keeps serving the old table, byte for byte, after a rejected reload', async (t) => {
    const path = join(dir, 'broken.yaml');
    await writeConfig(path, configFor(a));
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    const before = await request(`${proxy.url}/x`, { host: 'h' });
    await writeConfig(path, configFor(b).replace('sites:', 'sites: [oops'));
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload failed; the previous config keeps serving');
    assert.equal(outcome.code, 'ERR_CONFIG_PARSE');
    const afterReply = await request(`${proxy.url}/x`, { host: 'h' });
    assert.equal(afterReply.status, before.status);
    assert.equal(afterReply.body, before.body);
    const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
    assert.match(metrics, /reverse_proxy_config_last_reload_successful 0/);
    assert.match(metrics, /reverse_proxy_config_generation 1\b/);
    // The next valid config lands, and the gauge recovers.
    await writeConfig(path, configFor(b));
    assert.equal((await proxy.reload()).msg, 'reload applied');
    assert.equal((await request(`${proxy.url}/x`, { host: 'h' })).body, 'B GET /x');
    assert.match(
      (await request(`${proxy.healthUrl}/metrics`)).body,
      /reverse_proxy_config_last_reload_successful 1/,
    );
    await proxy.stop();
  });

  it('treats identical bytes as a no-op', async (t) => {
    const path = join(dir, 'same.yaml');
    await writeConfig(path, configFor(a));
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload: config unchanged');
    assert.match(
      (await request(`${proxy.healthUrl}/metrics`)).body,
      /reverse_proxy_config_generation 1\b/,
    );
    await proxy.stop();
  });

  it('applies the sites and reports changed static fields as restart required', async (t) => {
    const path = join(dir, 'static.yaml');
    await writeConfig(path, configFor(a));
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    await writeConfig(
      path,
      configFor(b, 'shutdown:\n  drain_delay_ms: 5\n').replace(
        'health:\n  address: 127.0.0.1:0',
        'health:\n  address: 127.0.0.1:0\n  max_connections: 7',
      ),
    );
    const outcome = await proxy.reload();
    assert.equal(
      outcome.msg,
      'reload applied; static fields changed (restart required): health.max_connections, shutdown.drain_delay_ms',
    );
    assert.deepEqual(outcome.restart_required, [
      'health.max_connections',
      'shutdown.drain_delay_ms',
    ]);
    assert.equal((await request(`${proxy.url}/`, { host: 'h' })).body, 'B GET /');
    await proxy.stop();
  });

  it('validates reloads with the --allow-wildcard-bind given at start (seed W5)', async (t) => {
    const path = join(dir, 'wildcard.yaml');
    const wildcard = (u: Upstream) =>
      configFor(u).replace('127.0.0.1:0\nadmin', '0.0.0.0:0\nadmin');
    await writeConfig(path, wildcard(a));
    const proxy = await startProxy(path, ['--allow-wildcard-bind']);
    t.after(() => proxy.stop());
    await writeConfig(path, wildcard(b));
    assert.equal((await proxy.reload()).msg, 'reload applied');
    assert.equal((await request(`${proxy.url}/`, { host: 'h' })).body, 'B GET /');
    await proxy.stop();
  });
});

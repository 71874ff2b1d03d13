import assert from 'node:assert/strict';
import { once } from 'node:events';
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

describe('graceful shutdown', () => {
  let slow: Upstream;
  let dir: string;
  let cleanup: () => Promise<void>;
  let releaseSlow: () => void = () => undefined;

  before(async () => {
    slow = await startUpstream('slow', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started;');
      // Finishes only when the test says so: the request is in flight during the drain.
      releaseSlow = () => res.end('finished');
    });
    ({ dir, cleanup } = await tmpDir());
  });
  after(async () => {
    await slow.close();
    await cleanup();
  });

  it('turns /readyz to 503, lets an in-flight request finish, then exits 0', async (t) => {
    const path = join(dir, 'drain.yaml');
    await writeConfig(
      path,
      configYaml(
        site('s', ['*'], [['/', slow.url]]),
        'shutdown:\n  drain_delay_ms: 400\n  grace_period_ms: 10000\n',
      ),
    );
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    const inFlight = request(`${proxy.url}/slow`, { host: 'h' });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the request reached the upstream
    proxy.child.kill('SIGTERM');
    await proxy.waitForLog((l) => l.msg === 'draining');
    const ready = await request(`${proxy.healthUrl}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(JSON.parse(ready.body).reasons, ['draining']);
    // After the drain delay the listener stops accepting, while the slow request still runs.
    await new Promise((resolve) => setTimeout(resolve, 700));
    await assert.rejects(request(`${proxy.url}/`, { host: 'h' }), /ECONNREFUSED/);
    assert.equal(proxy.child.exitCode, null, 'still waiting for the in-flight request');
    releaseSlow();
    const reply = await inFlight;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'started;finished');
    const [code] = await once(proxy.child, 'exit');
    assert.equal(code, 0);
    assert.ok(proxy.logs.some((l) => l.msg === 'stopped: drained'));
  });

  it('cuts what is left when the grace period ends, and still exits 0', async (t) => {
    const path = join(dir, 'grace.yaml');
    await writeConfig(
      path,
      configYaml(site('s', ['*'], [['/', slow.url]]), 'shutdown:\n  grace_period_ms: 300\n'),
    );
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    const inFlight = request(`${proxy.url}/slow`, { host: 'h' }).catch((err: Error) => err);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exited = once(proxy.child, 'exit');
    proxy.child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(proxy.logs.some((l) => l.msg === 'stopped: grace period over, connections cut'));
    assert.ok((await inFlight) instanceof Error, 'the unfinished request was cut');
    releaseSlow();
  });

  it('closes idle keep-alive connections instead of waiting for them', async (t) => {
    const path = join(dir, 'idle.yaml');
    const fast = await startUpstream('fast');
    t.after(() => fast.close());
    await writeConfig(
      path,
      configYaml(site('s', ['*'], [['/', fast.url]]), 'shutdown:\n  grace_period_ms: 20000\n'),
    );
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    const http = await import('node:http');
    const agent = new http.Agent({ keepAlive: true });
    assert.equal((await request(`${proxy.url}/`, { host: 'h', agent })).status, 200);
    const exited = once(proxy.child, 'exit');
    proxy.child.kill('SIGTERM');
    const [code] = await exited;
    agent.destroy();
    assert.equal(code, 0);
    assert.ok(
      proxy.logs.some((l) => l.msg === 'stopped: drained'),
      'did not wait for the 20 s grace period',
    );
  });
});

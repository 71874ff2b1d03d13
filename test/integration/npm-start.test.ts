import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { freePort } from '../../bench/free-port.ts';
import { writeServedConfig } from '../../examples/served-config.ts';
import { CLI, ROOT, startProxy, tmpDir } from '../helpers.ts';

/**
 * A checkout of its own for `node examples/start.ts`: the example's code, src and
 * node_modules linked, and an examples/proxy.yaml on free ports (the real one's are fixed).
 */
async function checkout(dir: string, listenPort: number, healthPort: number): Promise<void> {
  await mkdir(join(dir, 'examples'));
  for (const file of ['start.ts', 'running-proxy.ts', 'served-config.ts', 'demo-upstream.ts']) {
    copyFileSync(join(ROOT, 'examples', file), join(dir, 'examples', file));
  }
  symlinkSync(join(ROOT, 'src'), join(dir, 'src'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const example = readFileSync(join(ROOT, 'examples', 'proxy.yaml'), 'utf8')
    .replace('address: 127.0.0.1:8080', `address: 127.0.0.1:${listenPort}`)
    .replace('address: 127.0.0.1:9900', `address: 127.0.0.1:${healthPort}`);
  writeFileSync(join(dir, 'examples', 'proxy.yaml'), example);
}

function npmStart(dir: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(dir, 'examples', 'start.ts')],
      { cwd: dir, timeout: 20_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

describe('npm start (examples/start.ts)', () => {
  it('refuses a second start while the first proxy runs, without touching run/proxy.yaml', async () => {
    const { dir, cleanup } = await tmpDir('rp-start-');
    const [listenPort, healthPort] = [await freePort(), await freePort()];
    await checkout(dir, listenPort, healthPort);
    // The first start, as start.ts does it: the served copy, then the proxy on it.
    const served = await writeServedConfig(dir);
    const first = await startProxy(served.path);
    try {
      const before = readFileSync(served.path);
      const mtime = statSync(served.path).mtimeMs;
      const second = await npmStart(dir);
      assert.equal(second.code, 1, second.out);
      assert.match(
        second.out,
        /a proxy is already running from this checkout \(run\/admin\.sock answers\)/,
      );
      assert.match(second.out, /Nothing was changed/);
      assert.deepEqual(readFileSync(served.path), before, 'run/proxy.yaml as it was');
      assert.equal(statSync(served.path).mtimeMs, mtime, 'not even rewritten with the same bytes');
      const live = await fetch(`${first.healthUrl}/readyz`);
      assert.equal(live.status, 200, 'the first proxy serves on');
    } finally {
      await first.stop();
      await cleanup();
    }
  });

  it('refuses when a configured address is taken by another program, before writing anything', async () => {
    const { dir, cleanup } = await tmpDir('rp-start-');
    const other = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const { port } = other.address() as AddressInfo;
    try {
      await checkout(dir, port, await freePort());
      const result = await npmStart(dir);
      assert.equal(result.code, 1, result.out);
      assert.match(
        result.out,
        new RegExp(
          `127\\.0\\.0\\.1:${port} \\(listeners\\[0\\] in examples/proxy\\.yaml\\) is in use`,
        ),
      );
      assert.ok(!existsSync(join(dir, 'run')), 'run/ not even created');
    } finally {
      other.close();
      await cleanup();
    }
  });

  it('ships an example that validate accepts, in the current timeouts form', async () => {
    const text = readFileSync(join(ROOT, 'examples', 'proxy.yaml'), 'utf8');
    const config = parse(text) as { sites: { routes: Record<string, unknown>[] }[] };
    const routes = config.sites.flatMap((s) => s.routes);
    assert.ok(
      routes.every((r) => !('timeout_ms' in r)),
      'no deprecated timeout_ms',
    );
    assert.ok(
      routes.some((r) => r.timeouts !== undefined),
      'timeouts: shown',
    );
    const result = await new Promise<{ code: number | null; out: string }>((resolve) =>
      execFile(
        process.execPath,
        [CLI, 'validate', '-c', join(ROOT, 'examples', 'proxy.yaml')],
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      ),
    );
    assert.equal(result.code, 0, result.out);
    assert.match(result.out, /: ok \(1 site\(s\)/);
    assert.doesNotMatch(result.out, /deprecat|timeout_ms/i);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, ROOT, tmpDir } from '../helpers.ts';

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('reverse-proxy CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tmpDir()));
  after(() => cleanup());

  it('validates the bundled example', () => {
    const result = run('validate', '-c', join(ROOT, 'examples', 'proxy.yaml'));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /proxy\.yaml: ok \(1 site\(s\), sha256 [0-9a-f]{64}\)/);
  });

  it('prints every error with its path and line, and exits 1', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(
      path,
      'listeners:\n  - address: 0.0.0.0:8080\nsites:\n  - name: a\n    hosts: [a.example]\n    routes:\n      - path: /\n        upstream: ftp://x\n  - name: b\n    hosts: [b.example]\n    routes:\n      - path: /\n        upstream: http://127.0.0.1:1\n        timeuot_ms: 5\n',
    );
    const result = run('validate', '-c', path);
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.deepEqual(lines, [
      `${path}: sites[0].routes[0].upstream: must be an http(s) URL (line 8)`,
      `${path}: sites[1].routes[0].timeuot_ms: is not a known key (line 14)`,
      `${path}: invalid (2 error(s))`,
    ]);
  });

  it('reports semantic errors after the schema passes', () => {
    const path = join(dir, 'wild.yaml');
    writeFileSync(path, 'listeners:\n  - address: 0.0.0.0:8080\nsites: []\n');
    const refused = run('validate', '-c', path);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /listeners\[0\]\.address: 0\.0\.0\.0:8080 listens on every interface; pass --allow-wildcard-bind if that is intended \(line 2\)/,
    );
    assert.equal(run('validate', '-c', path, '--allow-wildcard-bind').code, 0);
  });

  it('exits 2 when the file cannot be read', () => {
    const result = run('validate', '-c', join(dir, 'missing.yaml'));
    assert.equal(result.code, 2);
    assert.match(result.stderr, /missing\.yaml: cannot read \(ENOENT\)/);
  });

  it('serve refuses an invalid config with the same errors and exit 1', () => {
    const path = join(dir, 'serve-bad.yaml');
    writeFileSync(path, 'listeners: []\n');
    const result = run('serve', '-c', path);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot start/);
    assert.match(result.stderr, /listeners: must contain at least 1 items \(line 1\)/);
  });

  it('serve exits 1 naming the address when a listener cannot bind', async () => {
    const net = await import('node:net');
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    const path = join(dir, 'busy.yaml');
    writeFileSync(
      path,
      `listeners:\n  - address: 127.0.0.1:${port}\nadmin:\n  socket: ''\nhealth:\n  address: ''\nsites: []\n`,
    );
    const result = run('serve', '-c', path);
    blocker.close();
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  });

  it('prints help and the version from package.json', () => {
    const help = run('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /serve -c FILE/);
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    assert.equal(run('--version').stdout, `reverse-proxy ${version}\n`);
  });

  it('names unknown commands and flags, and a missing -c, with exit 2', () => {
    const cmd = run('frobnicate');
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command "frobnicate"/);
    const flag = run('validate', '--colour', '-c', 'x');
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /Unknown option '--colour'/);
    const missing = run('serve');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /-c FILE is required/);
  });
});

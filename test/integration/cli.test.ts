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
      `${path}: sites[1].routes[0].timeuot_ms: is not a known key; did you mean \`timeout_ms\`? (line 14)`,
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
    assert.match(result.stderr, /listeners: must list at least one item \(line 1\)/);
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

  it('answers --help and -h after each command with its own usage, exit 0', () => {
    const synopsis: Record<string, RegExp> = {
      serve: /^Usage: reverse-proxy serve -c FILE \[--allow-wildcard-bind\]/,
      validate:
        /^Usage: reverse-proxy validate -c FILE \[--allow-wildcard-bind\] \[--strict\] \[--endpoints-file PATH\]\n/,
      diff: /^Usage: reverse-proxy diff \[--allow-wildcard-bind\] OLD NEW\n/,
      ctl: /^Usage: reverse-proxy ctl \[-s SOCKET\] .* reload\|status\|endpoints\n/,
      sidecar: /^Usage: reverse-proxy sidecar --socket PATH --config-out FILE /,
    };
    for (const [command, expected] of Object.entries(synopsis)) {
      // Help wins over whatever else is on the line, a wrong flag included.
      for (const args of [['--help'], ['-h'], ['--colour', '-h']]) {
        const result = run(command, ...args);
        assert.equal(result.code, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
        assert.equal(result.stderr, '');
        assert.match(result.stdout, expected);
        assert.match(result.stdout, /\n {2}-h, --help +show this help\n$/);
      }
      assert.equal(run('help', command).stdout, run(command, '--help').stdout);
    }
    assert.match(run('sidecar', '--help').stdout, /\n {2}until SIGTERM \(exit 0\)/);
    assert.match(
      run('--help').stdout,
      /\nRun "reverse-proxy <command> --help" for one command\.\n/,
    );
  });

  it('names unknown commands and flags, and a missing -c, with exit 2', () => {
    const cmd = run('frobnicate');
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command "frobnicate"/);
    const flag = run('validate', '--colour', '-c', 'x');
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /Unknown option '--colour'/);
    assert.match(flag.stderr, /\nRun "reverse-proxy validate --help" for usage\.\n$/);
    assert.match(run('sidecar', '--colour').stderr, /Run "reverse-proxy sidecar --help"/);
    assert.match(cmd.stderr, /\nRun "reverse-proxy --help" for usage\.\n$/);
    const missing = run('serve');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /-c FILE is required/);
  });
});

describe('reverse-proxy diff', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tmpDir()));
  after(() => cleanup());

  const OLD = `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    routes:
      - path: /v1/
        upstream: http://10.0.0.1:9001
      - path: /old/
        upstream: http://10.0.0.1:9001
  - name: legacy
    hosts: [legacy.example.com]
    routes:
      - path: /
        upstream: http://10.0.0.9:80
`;
  const NEW = `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    routes:
      - path: /v1/
        upstream: http://10.0.0.2:9002
        timeouts: { response_ms: 5000 }
      - path: /v2/
        upstreams:
          - url: http://10.0.0.3:9001
            weight: 2
          - url: http://10.0.0.4:9001
`;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('prints the changes route by route and exits 1', () => {
    const result = run('diff', file('old.yaml', OLD), file('new.yaml', NEW));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, '');
    assert.deepEqual(result.stdout.split('\n'), [
      '~ site api',
      '  ~ route /v1/: upstream http://10.0.0.1:9001 -> http://10.0.0.2:9002; timeouts.response_ms 30000 -> 5000',
      '  + route /v2/ -> http://10.0.0.3:9001 (weight 2), http://10.0.0.4:9001',
      '  - route /old/',
      '- site legacy (1 route)',
      '',
    ]);
  });

  it('exits 0 with "no change" for the same bytes, and for formatting and defaults', () => {
    const old = file('same.yaml', OLD);
    const same = run('diff', old, file('same-copy.yaml', OLD));
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout, 'no change\n');
    const restyled = `# the same config, written differently
listeners: [{address: "127.0.0.1:8080"}]
sites:
  - {name: legacy, hosts: [legacy.example.com], routes: [{path: /, upstream: "http://10.0.0.9:80"}]}
  - name: api
    hosts: [api.example.com]
    https_redirect: false
    routes:
      - path: /old/
        upstreams: [{url: "http://10.0.0.1:9001", weight: 1}]
      - path: /v1/
        upstream: http://10.0.0.1:9001
        timeouts: {connect_ms: 5000, response_ms: 30000}
        retries: {attempts: 0}
        strip_prefix: false
`;
    const result = run('diff', old, file('restyled.yaml', restyled));
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.stdout, 'no change\n');
  });

  it('exits 2 with the errors validate prints when a file is invalid or unreadable', () => {
    const bad = file(
      'bad.yaml',
      OLD.replace('upstream: http://10.0.0.9:80', 'upstream: ftp://x\n        timeuot_ms: 5'),
    );
    const result = run('diff', file('good.yaml', OLD), bad);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    const validate = run('validate', '-c', bad);
    assert.equal(validate.code, 1);
    assert.equal(result.stderr, validate.stderr);
    assert.match(
      result.stderr,
      /bad\.yaml: sites\[1\]\.routes\[0\]\.upstream: must be an http\(s\) URL \(line 15\)/,
    );
    const missing = run('diff', join(dir, 'missing.yaml'), bad);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing\.yaml: cannot read \(ENOENT\)/);
    assert.ok(missing.stderr.endsWith(validate.stderr), 'both files are checked');
  });

  it('needs --allow-wildcard-bind for a wildcard listener, like validate', () => {
    const wild = OLD.replace('127.0.0.1:8080', '0.0.0.0:8080');
    const a = file('wild-a.yaml', wild);
    const b = file('wild-b.yaml', wild.replace('10.0.0.9:80', '10.0.0.9:81'));
    const refused = run('diff', a, b);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /listens on every interface; pass --allow-wildcard-bind/);
    const allowed = run('diff', '--allow-wildcard-bind', a, b);
    assert.equal(allowed.code, 1, allowed.stderr);
    assert.equal(
      allowed.stdout,
      '~ site legacy\n  ~ route /: upstream http://10.0.0.9:80 -> http://10.0.0.9:81\n',
    );
  });

  it('exits 2 on a wrong command line, and is in --help', () => {
    const a = file('usage.yaml', OLD);
    for (const args of [[], [a], [a, a, a], ['--colour', a, a]]) {
      const result = run('diff', ...args);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stdout, '');
      assert.match(
        result.stderr,
        /^reverse-proxy: diff: .*\nRun "reverse-proxy diff --help" for usage\.\n$/,
      );
    }
    assert.match(run('diff', a).stderr, /expected two files, OLD and NEW/);
    assert.match(run('diff', '--colour', a, a).stderr, /Unknown option '--colour'/);
    assert.match(
      run('--help').stdout,
      /\n {2}diff \[--allow-wildcard-bind\] OLD NEW {7}what changes/,
    );
  });
});

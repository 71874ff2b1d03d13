import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { shebangNodeFlags } from '../../src/node-flags.ts';
import { SUPPORTED_NODE_MAJOR } from '../../src/node-version.ts';
import { ROOT } from '../helpers.ts';

const BUILT = join(ROOT, 'dist', 'cli.js');
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

/** A Node other than the supported major on this machine (the system's, say), if any. */
function findOtherNode(): { path: string; version: string } | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    const path = join(dir, 'node');
    if (dir === '' || !existsSync(path)) continue;
    const run = spawnSync(path, ['--version'], { encoding: 'utf8' });
    const version = run.stdout?.trim().replace(/^v/, '') ?? '';
    if (run.status === 0 && Number(version.split('.')[0]) !== SUPPORTED_NODE_MAJOR) {
      return { path, version };
    }
  }
  return undefined;
}

const other = findOtherNode();
const NO_OTHER_NODE =
  other === undefined
    ? `no Node other than ${SUPPORTED_NODE_MAJOR} on PATH, /usr/bin or /usr/local/bin`
    : false;
if (NO_OTHER_NODE)
  process.stdout.write(`# build: the other-Node case skipped (${NO_OTHER_NODE})\n`);

/** Runs the built CLI as its shebang does: `env` finds `node` on PATH (`nodeDir` first). */
function runBuilt(nodeDir: string, args: string[]) {
  return spawnSync(BUILT, args, {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, PATH: `${nodeDir}${delimiter}${process.env.PATH ?? ''}` },
  });
}

// Builds this checkout's dist/ (what `npm run build` is for; dist/ is not in git), because the
// point is what the real build script produces: the file mode is set by it, not by tsc.
describe('the built CLI (npm run build)', () => {
  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `${build.error ?? ''}${build.stdout}${build.stderr}`);
  });

  it('is executable (0755) and runs through its shebang, flags included', () => {
    assert.equal(statSync(BUILT).mode & 0o7777, 0o755);
    assert.deepEqual(shebangNodeFlags(BUILT), ['--max-semi-space-size=16']);
    const run = runBuilt(dirname(process.execPath), ['--version']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `reverse-proxy ${VERSION}\n`);
  });

  it(
    'refuses another Node at once, exit 1, naming the Node found and the one required',
    {
      skip: NO_OTHER_NODE,
    },
    () => {
      const { path, version } = other as { path: string; version: string };
      const expected =
        `reverse-proxy: Node.js ${version} is not supported: reverse-proxy needs Node.js ` +
        `${SUPPORTED_NODE_MAJOR} (package.json engines ">=${SUPPORTED_NODE_MAJOR} ` +
        `<${SUPPORTED_NODE_MAJOR + 1}"); in a checkout, \`npm ci\` installs it as ` +
        './node_modules/.bin/node (ERR_NODE_UNSUPPORTED)\n';
      // serve on a config that does not exist: past the check, it would exit 2 (unreadable).
      for (const args of [['serve', '-c', '/nonexistent/proxy.yaml'], ['--version'], []]) {
        const run = spawnSync(path, [BUILT, ...args], { encoding: 'utf8', timeout: 20_000 });
        assert.equal(run.status, 1, `${args.join(' ')}: ${run.stderr}`);
        assert.equal(run.stdout, '');
        assert.equal(run.stderr, expected);
      }
      // The installed command, with that Node first on PATH: the shebang finds it, same answer.
      const viaShebang = runBuilt(dirname(path), ['--version']);
      assert.equal(viaShebang.status, 1);
      assert.equal(viaShebang.stderr, expected);
    },
  );
});

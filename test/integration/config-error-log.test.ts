import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, configYaml, site, startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { LogLine } from '../helpers.ts';

/** Not YAML: a flow sequence left open (the parser gives line 2, column 1). */
const NOT_YAML = 'sites: [oops\n';
/** YAML that breaks two rules, one of them a typo with a near key. */
const INVALID = configYaml(site('main', ['*'], [['/', 'ftp://127.0.0.1:1']])).replace(
  'health:\n',
  'health:\n  max_conections: 5\n',
);

/** The fields every config error line has, whatever the kind of error. */
function assertShape(line: LogLine, code: string, errors: (string | RegExp)[]) {
  assert.equal(line.code, code);
  assert.ok(!('err' in line), `no error object (and so no stack): ${JSON.stringify(line)}`);
  assert.doesNotMatch(JSON.stringify(line), /\n {4}at |stack/);
  const lines = line.errors as string[];
  assert.equal(lines.length, errors.length, JSON.stringify(lines));
  errors.forEach((expected, i) =>
    typeof expected === 'string'
      ? assert.equal(lines[i], expected)
      : assert.match(lines[i] as string, expected),
  );
}

const PARSE_ERRORS = [/^\(root\): invalid YAML: Flow sequence .* \(line 2, column 1\)$/];
const INVALID_ERRORS = [
  'health.max_conections: is not a known key; did you mean `max_connections`? (line 6)',
  'sites[0].routes[0].upstream: must be an http(s) URL (line 14)',
];

describe('config errors in the log: one shape for parse and validation errors', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tmpDir()));
  after(() => cleanup());

  it('a failed reload logs code and errors, never a stack, for both kinds', async (t) => {
    const path = join(dir, 'reload.yaml');
    const good = configYaml(site('main', ['*'], [['/', 'http://127.0.0.1:1']]));
    await writeConfig(path, good);
    const proxy = await startProxy(path);
    t.after(() => proxy.stop());
    await writeConfig(path, NOT_YAML);
    const parse = await proxy.reload();
    assert.equal(parse.msg, 'reload failed; the previous config keeps serving');
    assertShape(parse, 'ERR_CONFIG_PARSE', PARSE_ERRORS);
    await writeConfig(path, INVALID);
    const invalid = await proxy.reload();
    assert.equal(invalid.msg, 'reload failed; the previous config keeps serving');
    assertShape(invalid, 'ERR_CONFIG_INVALID', INVALID_ERRORS);
    const keys = (line: LogLine) =>
      Object.keys(line)
        .filter((k) => k !== 'time')
        .sort();
    assert.deepEqual(keys(parse), keys(invalid));
  });

  it('serve logs a start failure as one JSON line of the same shape, beside its text', () => {
    for (const [name, text, code, errors] of [
      ['not-yaml.yaml', NOT_YAML, 'ERR_CONFIG_PARSE', PARSE_ERRORS],
      ['invalid.yaml', INVALID, 'ERR_CONFIG_INVALID', INVALID_ERRORS],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const run = spawnSync(process.execPath, [CLI, 'serve', '-c', path], { encoding: 'utf8' });
      assert.equal(run.status, 1, run.stderr);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines.length, 1, run.stdout);
      const line = JSON.parse(lines[0] as string) as LogLine;
      assert.equal(line.msg, 'cannot start');
      assert.equal(line.level, 'fatal');
      assertShape(line, code, [...errors]);
      assert.match(run.stderr, /^reverse-proxy: cannot start\n/);
    }
  });
});

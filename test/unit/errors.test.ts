import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ConfigInvalidError,
  ConfigParseError,
  ERROR_CODES,
  errorLogFields,
  formatIssue,
  ProxyError,
} from '../../src/errors.ts';
import { ROOT } from '../helpers.ts';

describe('error registry', () => {
  it('documents every code in docs/errors.md, and nothing that is not a code', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `(ERR_[A-Z_]+)` +\|/gm)].map((m) => m[1]));
    assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
  });

  it('gives errors a stable code and formats config issues as path: message (line N)', () => {
    const err = new ConfigInvalidError([
      { path: 'sites[0].name', message: 'is required', line: 3 },
    ]);
    assert.ok(err instanceof ProxyError);
    assert.equal(err.code, 'ERR_CONFIG_INVALID');
    assert.equal(formatIssue(err.issues[0] as never), 'sites[0].name: is required (line 3)');
    assert.equal(
      formatIssue({ path: '', message: 'the config is empty' }),
      '(root): the config is empty',
    );
  });

  it('a parse error keeps its message and carries one issue at the root, with line and column', () => {
    const err = new ConfigParseError('/etc/p.yaml', {
      message: 'invalid YAML: Map keys must be unique',
      line: 4,
      column: 3,
    });
    assert.equal(err.code, 'ERR_CONFIG_PARSE');
    assert.equal(
      err.message,
      '/etc/p.yaml: invalid YAML: Map keys must be unique at line 4, column 3',
    );
    assert.deepEqual(err.issues.map(formatIssue), [
      '(root): invalid YAML: Map keys must be unique (line 4, column 3)',
    ]);
    const bomb = new ConfigParseError('p.yaml', {
      message: "aliases expand beyond the file's size",
    });
    assert.equal(bomb.message, "p.yaml: aliases expand beyond the file's size");
    assert.deepEqual(bomb.issues.map(formatIssue), [
      "(root): aliases expand beyond the file's size",
    ]);
  });

  it('logs deliberate errors as code and errors, and only a bug with its stack', () => {
    const invalid = new ConfigInvalidError([{ path: 'a', message: 'is required', line: 2 }]);
    assert.deepEqual(errorLogFields(invalid), {
      code: 'ERR_CONFIG_INVALID',
      errors: ['a: is required (line 2)'],
    });
    const parse = new ConfigParseError('p.yaml', { message: 'invalid YAML: x', line: 1 });
    assert.deepEqual(errorLogFields(parse), {
      code: 'ERR_CONFIG_PARSE',
      errors: ['(root): invalid YAML: x (line 1)'],
    });
    const unreadable = new ProxyError('ERR_CONFIG_UNREADABLE', 'p.yaml: cannot read (ENOENT)');
    assert.deepEqual(errorLogFields(unreadable), {
      code: 'ERR_CONFIG_UNREADABLE',
      errors: ['p.yaml: cannot read (ENOENT)'],
    });
    const bug = new TypeError('x is undefined');
    assert.deepEqual(errorLogFields(bug), { code: 'ERR_INTERNAL', err: bug });
  });
});

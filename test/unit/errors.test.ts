import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigInvalidError, ERROR_CODES, formatIssue, ProxyError } from '../../src/errors.ts';
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
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeVersionProblem, SUPPORTED_NODE_MAJOR } from '../../src/node-version.ts';
import { ROOT } from '../helpers.ts';

describe('nodeVersionProblem', () => {
  it('accepts every release of the supported major', () => {
    for (const version of ['24.0.0', '24.21.0', '24.99.1']) {
      assert.equal(nodeVersionProblem(version), undefined, version);
    }
  });

  it('refuses other majors, naming the one found and the one required', () => {
    for (const version of ['18.19.0', '20.20.2', '23.11.0', '25.0.0', 'nonsense']) {
      const problem = nodeVersionProblem(version) ?? '';
      assert.match(problem, new RegExp(`^Node\\.js ${version.replace(/\./g, '\\.')} is not`));
      assert.match(problem, /needs Node\.js 24 \(package\.json engines ">=24 <25"\)/);
      assert.match(problem, /\(ERR_NODE_UNSUPPORTED\)$/);
    }
  });

  it("agrees with package.json's engines", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(
      pkg.engines.node,
      `>=${SUPPORTED_NODE_MAJOR} <${SUPPORTED_NODE_MAJOR + 1}`,
      'change SUPPORTED_NODE_MAJOR with engines',
    );
  });
});

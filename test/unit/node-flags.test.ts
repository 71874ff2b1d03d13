import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { shebangNodeFlags } from '../../src/node-flags.ts';
import { CLI, tmpDir } from '../helpers.ts';

describe('shebangNodeFlags', () => {
  it("reads the CLI's flags, and node accepts them", () => {
    const flags = shebangNodeFlags(CLI);
    assert.deepEqual(flags, ['--max-semi-space-size=16']);
    const run = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
  });

  it('finds none on a plain or foreign first line', async (t) => {
    const { dir, cleanup } = await tmpDir();
    t.after(cleanup);
    const cases: [string, string[]][] = [
      ['#!/usr/bin/env node\n', []],
      ['#!/usr/bin/env -S node\n', []],
      ['#!/usr/bin/env -S node --a=1 --b\nx', ['--a=1', '--b']],
      ['#!/bin/sh\n', []],
      ['console.log(1)\n', []],
    ];
    for (const [i, [text, expected]] of cases.entries()) {
      const file = join(dir, `s${i}`);
      await writeFile(file, text);
      assert.deepEqual(shebangNodeFlags(file), expected, text);
    }
  });
});

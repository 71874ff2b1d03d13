import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

/**
 * Runs `node -e script args...` and resolves once it printed "ready". The child is SIGKILLed
 * by the cleanup pushed onto `cleanups` (tests run those after each case). `options.node` is
 * the binary (default: this process's); a child of another uid needs one it can reach.
 */
export async function spawnUntilReady(
  script: string,
  args: string[],
  options: SpawnOptions & { readonly node?: string },
  cleanups: (() => unknown)[],
): Promise<ChildProcess> {
  const { node = process.execPath, ...spawnOptions } = options;
  const child = spawn(node, ['-e', script, ...args], {
    ...spawnOptions,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  assert.equal(line.toString().trim(), 'ready');
  return child;
}

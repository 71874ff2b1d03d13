import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

/**
 * Runs `node -e script args...` and resolves once it printed "ready". The child is SIGKILLed
 * by the cleanup pushed onto `cleanups` (tests run those after each case).
 */
export async function spawnUntilReady(
  script: string,
  args: string[],
  options: SpawnOptions,
  cleanups: (() => unknown)[],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', script, ...args], {
    ...options,
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

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cgroupCpuQuota, resolveWorkers } from '../../../src/workers/worker-count.ts';
import { tmpDir } from '../../helpers.ts';

describe('workers: auto', () => {
  it('reads the CPU quota of cgroup v2 (cpu.max) and v1 (cfs_quota_us / cfs_period_us)', async () => {
    const { dir, cleanup } = await tmpDir();
    try {
      const v2 = join(dir, 'v2');
      await mkdir(v2);
      await writeFile(join(v2, 'cpu.max'), '150000 100000\n');
      assert.equal(cgroupCpuQuota(v2), 1.5);
      await writeFile(join(v2, 'cpu.max'), 'max 100000\n');
      assert.equal(cgroupCpuQuota(v2), undefined, 'no quota');
      const v1 = join(dir, 'v1');
      await mkdir(join(v1, 'cpu'), { recursive: true });
      await writeFile(join(v1, 'cpu', 'cpu.cfs_quota_us'), '300000\n');
      await writeFile(join(v1, 'cpu', 'cpu.cfs_period_us'), '100000\n');
      assert.equal(cgroupCpuQuota(v1), 3);
      await writeFile(join(v1, 'cpu', 'cpu.cfs_quota_us'), '-1\n');
      assert.equal(cgroupCpuQuota(v1), undefined, 'v1 without a quota');
      assert.equal(cgroupCpuQuota(join(dir, 'none')), undefined, 'no cgroup files at all');
    } finally {
      await cleanup();
    }
  });

  it('takes the quota rounded up when it is below the CPUs of the affinity mask, else the mask', async () => {
    const { dir, cleanup } = await tmpDir();
    try {
      const cpus = availableParallelism();
      await writeFile(join(dir, 'cpu.max'), `${Math.max(1, cpus - 1) * 100000 - 50000} 100000\n`);
      const quota = resolveWorkers('auto', dir);
      if (cpus > 1) assert.deepEqual(quota, { count: cpus - 1, source: 'cgroup_quota' });
      await writeFile(join(dir, 'cpu.max'), `${(cpus + 4) * 100000} 100000\n`);
      assert.deepEqual(resolveWorkers('auto', dir), { count: cpus, source: 'affinity' });
      await writeFile(join(dir, 'cpu.max'), '10000 100000\n');
      assert.equal(resolveWorkers('auto', dir).count, 1, 'a tenth of a CPU still runs one');
      assert.deepEqual(resolveWorkers(3, dir), { count: 3, source: 'config' });
    } finally {
      await cleanup();
    }
  });
});

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { LIMITS } from '../config/limits.ts';
import type { WorkersSetting } from '../config/types.ts';

/** How many workers run, and what decided it (logged at start, shown by `ctl status`). */
export interface WorkerCount {
  readonly count: number;
  /** `config`: a number in the file or `--workers`; else what `auto` read. */
  readonly source: 'config' | 'cgroup_quota' | 'affinity';
}

/**
 * `auto` is the CPUs this container may use: the cgroup's CPU quota rounded up (what
 * `docker --cpus` and a Kubernetes `limits.cpu` set), then the affinity mask (`taskset`,
 * cpusets; Node's availableParallelism reads sched_getaffinity), whichever is smaller, at
 * least 1. The quota comes first because a pod limited to 2 CPUs on a 64-core node sees 64
 * CPUs in its mask: 64 workers would share 2 CPUs of time and cost 64 processes of memory.
 */
export function resolveWorkers(setting: WorkersSetting, root = '/sys/fs/cgroup'): WorkerCount {
  if (setting !== 'auto') return { count: setting, source: 'config' };
  const affinity = Math.max(1, availableParallelism());
  const quota = cgroupCpuQuota(root);
  if (quota !== undefined && quota < affinity) {
    return { count: clamp(Math.ceil(quota)), source: 'cgroup_quota' };
  }
  return { count: clamp(affinity), source: 'affinity' };
}

function clamp(n: number): number {
  return Math.min(LIMITS.maxWorkers, Math.max(1, n));
}

/**
 * CPUs of quota, or undefined when there is none: cgroup v2's `cpu.max` ("max 100000" or
 * "200000 100000"), else cgroup v1's cfs_quota_us / cfs_period_us (-1 = no quota). The
 * process's own cgroup is the mount's root inside a container (cgroup namespaces).
 */
export function cgroupCpuQuota(root: string): number | undefined {
  const v2 = readText(`${root}/cpu.max`);
  if (v2 !== undefined) {
    const [quota, period] = v2.trim().split(/\s+/);
    return ratio(quota, period);
  }
  const quota = readText(`${root}/cpu/cpu.cfs_quota_us`) ?? readText(`${root}/cpu.cfs_quota_us`);
  const period = readText(`${root}/cpu/cpu.cfs_period_us`) ?? readText(`${root}/cpu.cfs_period_us`);
  return ratio(quota?.trim(), period?.trim());
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period);
  if (!(q > 0) || !(p > 0)) return undefined;
  return q / p;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

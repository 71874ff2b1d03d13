import type { ListenCounters } from './netstat.ts';
import type { SystemId } from './scenarios.ts';
import type { WrkResult } from './wrk.ts';

/** One wrk run against one system, with what was measured around it. */
export interface Run extends WrkResult {
  readonly scenario: string;
  readonly system: SystemId;
  readonly round: number;
  /** Peak RSS sampled during the run and right after it, bytes. */
  readonly rssBytes: number;
  /**
   * CPU seconds the system under test used during the run (nginx's master and worker, or the
   * proxy process). Where the load generator is the limit (new TLS connections), requests per
   * CPU-second compare the servers' own cost; absent in results written before it existed.
   */
  readonly cpuSeconds?: number;
  readonly counters: ListenCounters;
}

export interface ReloadResult {
  readonly seconds: number;
  readonly sites: number;
  readonly reloads: number;
  readonly failedReloads: number;
  readonly reloadMsMedian: number;
  readonly reloadMsMax: number;
  readonly rps: number;
  readonly socketErrors: number;
  readonly statusErrors: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
}

export interface SoakResult {
  readonly reloads: number;
  readonly seconds: number;
  readonly requests: number;
  readonly socketErrors: number;
  readonly statusErrors: number;
  /** RSS after every tenth of the reloads, bytes. */
  readonly rssSamples: readonly number[];
  /** A fresh proxy under the same load for the same time, no reloads: RSS every tenth of it. */
  readonly controlRssSamples: readonly number[];
}

/** A fresh proxy (small config) that served nothing but the 2 KB GET: warm-up, then 256 conns. */
export interface MemoryResult {
  readonly idleBytes: number;
  readonly peakBytes: number;
  readonly rps: number;
  readonly p99Us: number;
}

/**
 * Idle keep-alive connections held on a fresh, warmed-up system (bench/idle-conns.ts): each
 * made one GET and stays open. RSS is the process's (the proxy) or its worker's (nginx).
 */
export interface IdleResult {
  /** Connections asked for. */
  readonly connections: number;
  /** Of them, open and idle when RSS was read. */
  readonly held: number;
  /** Connections whose connect or GET failed. */
  readonly failed: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
}

export interface BenchResults {
  readonly mode: string;
  readonly startedAt: string;
  readonly machine: Record<string, string>;
  readonly runs: readonly Run[];
  readonly reload: ReloadResult;
  readonly soak: SoakResult;
  readonly memory: MemoryResult;
  /** Absent in results written before issue 17. */
  readonly idle?: { readonly proxy: IdleResult; readonly nginx: IdleResult };
  /** RSS of the two-worker proxy after its rounds (issue 18): the primary, then each worker. */
  readonly workers?: { readonly primaryBytes: number; readonly workerBytes: readonly number[] };
}

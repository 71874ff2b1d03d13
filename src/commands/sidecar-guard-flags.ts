import { DEFAULT_THRESHOLDS } from '../sidecar/rollout/regression.ts';
import type { Thresholds } from '../sidecar/rollout/regression.ts';
import { fraction, integer, SidecarUsageError } from './flag-values.ts';

/** The sidecar's guarded-rollout flags (docs/operations.md, "Guarded rollout"). */
const GUARD_DEFAULTS = {
  bakeMs: 120_000,
  baselineMs: 300_000,
  sampleMs: 5_000,
  proxyMetrics: 'http://127.0.0.1:9900/metrics',
  leaseDurationS: 15,
  rolloutPollMs: 1_000,
} as const;

export const GUARD_OPTIONS = {
  guard: { type: 'string' },
  'bake-ms': { type: 'string' },
  'baseline-ms': { type: 'string' },
  'sample-ms': { type: 'string' },
  'min-requests': { type: 'string' },
  'error-ratio-increase': { type: 'string' },
  'error-ratio-factor': { type: 'string' },
  'p99-increase-ms': { type: 'string' },
  'p99-factor': { type: 'string' },
  'proxy-metrics': { type: 'string' },
  'rollout-lease': { type: 'string' },
  'last-good-configmap': { type: 'string' },
  'lease-duration-s': { type: 'string' },
  'rollout-poll-ms': { type: 'string' },
} as const;

export /** The guarded rollout's settings; undefined with --guard off. */
interface GuardFlags {
  readonly bakeMs: number;
  readonly baselineMs: number;
  readonly sampleMs: number;
  readonly thresholds: Thresholds;
  readonly proxyMetrics: string;
  readonly lease: string | undefined;
  readonly lastGood: string | undefined;
  readonly leaseDurationS: number;
  readonly pollMs: number;
}

export function parseGuardFlags(
  v: Record<string, string | boolean | string[] | undefined>,
  apiMode: boolean,
): GuardFlags | undefined {
  const text = (name: string) => v[name] as string | undefined;
  const guard = text('guard') ?? 'on';
  if (guard !== 'on' && guard !== 'off') throw new SidecarUsageError('--guard must be on or off');
  const lease = text('rollout-lease');
  const lastGood = text('last-good-configmap');
  if ((lease === undefined) !== (lastGood === undefined)) {
    throw new SidecarUsageError('--rollout-lease and --last-good-configmap go together');
  }
  if (lease !== undefined && !apiMode) {
    throw new SidecarUsageError(
      '--rollout-lease is for API mode (--configmap); volume mode bakes on its own pod',
    );
  }
  if (guard === 'off') {
    if (lease !== undefined) {
      throw new SidecarUsageError('--rollout-lease needs the guard on (--guard on)');
    }
    return undefined;
  }
  const proxyMetrics = text('proxy-metrics') ?? GUARD_DEFAULTS.proxyMetrics;
  if (!/^http:\/\/[^/]+\/\S*$/.test(proxyMetrics)) {
    throw new SidecarUsageError(
      '--proxy-metrics must be an http:// URL (the proxy health listener)',
    );
  }
  const ms = (name: string, min: number, max: number, fallback: number) =>
    integer(`--${name}`, text(name), min, max) ?? fallback;
  const sampleMs = ms('sample-ms', 50, 600_000, GUARD_DEFAULTS.sampleMs);
  return {
    bakeMs: ms('bake-ms', 100, 86_400_000, GUARD_DEFAULTS.bakeMs),
    baselineMs: ms('baseline-ms', 100, 86_400_000, GUARD_DEFAULTS.baselineMs),
    sampleMs,
    thresholds: {
      minRequests: ms('min-requests', 1, 1_000_000_000, DEFAULT_THRESHOLDS.minRequests),
      errorRatioIncrease:
        fraction('--error-ratio-increase', text('error-ratio-increase'), 0, 1) ??
        DEFAULT_THRESHOLDS.errorRatioIncrease,
      errorRatioFactor:
        fraction('--error-ratio-factor', text('error-ratio-factor'), 1, 1_000) ??
        DEFAULT_THRESHOLDS.errorRatioFactor,
      p99IncreaseMs: ms('p99-increase-ms', 0, 3_600_000, DEFAULT_THRESHOLDS.p99IncreaseMs),
      p99Factor:
        fraction('--p99-factor', text('p99-factor'), 1, 1_000) ?? DEFAULT_THRESHOLDS.p99Factor,
    },
    proxyMetrics,
    lease,
    lastGood,
    leaseDurationS: ms('lease-duration-s', 1, 3_600, GUARD_DEFAULTS.leaseDurationS),
    pollMs: ms('rollout-poll-ms', 50, 600_000, GUARD_DEFAULTS.rolloutPollMs),
  };
}

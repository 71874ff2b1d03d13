import { p99Seconds } from './figures.ts';
import type { Figures, RouteFigures } from './figures.ts';

/** When a route's figures during the bake count as a regression (sidecar flags, docs). */
export interface Thresholds {
  /** Below this many requests during the bake a route is too quiet to judge. */
  readonly minRequests: number;
  /** The error ratio must rise by at least this much (0.05: five points)... */
  readonly errorRatioIncrease: number;
  /** ...and to at least this many times the baseline ratio. */
  readonly errorRatioFactor: number;
  /** The p99 must rise by at least this many ms... */
  readonly p99IncreaseMs: number;
  /** ...and to at least this many times the baseline p99. */
  readonly p99Factor: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  minRequests: 50,
  errorRatioIncrease: 0.05,
  errorRatioFactor: 2,
  p99IncreaseMs: 250,
  p99Factor: 2,
};

export type Figure = 'error_ratio' | 'upstream_error_ratio' | 'p99';

export interface Regression {
  readonly route: string;
  readonly figure: Figure;
  /** The figure before the change and during the bake (ratios 0-1, p99 in seconds). */
  readonly before: number;
  readonly after: number;
  readonly requests: number;
}

const ratio = (n: number, of: number) => (of > 0 ? n / of : 0);

/**
 * The first regressed figure of any route that existed before the change, or undefined.
 * `baseline` is what each route did over the minutes before the change; `bake` what it did
 * since. A rise must pass both the absolute and the relative threshold, so a route going from
 * 0.1% to 0.3% errors (three times, but tiny) is not rolled back, nor one going from 40% to
 * 46% (six points, but its usual noise). Routes the baseline lacks (new ones, or ones that
 * served nothing before) are not judged: there is nothing to compare them with.
 */
export function findRegression(
  baseline: Figures,
  bake: Figures,
  t: Thresholds,
): Regression | undefined {
  for (const [route, after] of bake) {
    const before = baseline.get(route);
    if (before === undefined || before.requests === 0) continue;
    if (after.requests < t.minRequests) continue;
    const found = judge(route, before, after, t);
    if (found !== undefined) return found;
  }
  return undefined;
}

function judge(
  route: string,
  before: RouteFigures,
  after: RouteFigures,
  t: Thresholds,
): Regression | undefined {
  const requests = after.requests;
  const rises = (figure: Figure, b: number, a: number): Regression | undefined =>
    a >= b + t.errorRatioIncrease && a >= b * t.errorRatioFactor
      ? { route, figure, before: b, after: a, requests }
      : undefined;
  const errors = rises(
    'error_ratio',
    ratio(before.errors5xx, before.requests),
    ratio(after.errors5xx, after.requests),
  );
  if (errors !== undefined) return errors;
  const upstream = rises(
    'upstream_error_ratio',
    ratio(before.upstreamErrors, before.requests),
    ratio(after.upstreamErrors, after.requests),
  );
  if (upstream !== undefined) return upstream;
  // A baseline p99 needs enough requests to mean something.
  if (before.requests < t.minRequests) return undefined;
  const b = p99Seconds(before);
  const a = p99Seconds(after);
  if (b === undefined || a === undefined) return undefined;
  if (a * 1000 >= b * 1000 + t.p99IncreaseMs && a >= b * t.p99Factor) {
    return { route, figure: 'p99', before: b, after: a, requests };
  }
  return undefined;
}

/** `p99 of api /v1/ rose from 0.05 s to 2.5 s over 120 requests`, for logs and Events. */
export function describeRegression(r: Regression): string {
  const show = (v: number) =>
    r.figure === 'p99'
      ? v === Infinity
        ? 'over the largest bucket'
        : `${v} s`
      : `${(100 * v).toFixed(1)}%`;
  const name =
    r.figure === 'p99'
      ? 'p99 latency'
      : r.figure === 'error_ratio'
        ? '5xx ratio'
        : 'upstream error ratio';
  return `${name} of route ${r.route} rose from ${show(r.before)} to ${show(r.after)} over ${r.requests} requests`;
}

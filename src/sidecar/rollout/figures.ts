/**
 * The proxy's own figures per route, as its health listener's `/metrics` shows them: what
 * the guarded rollout compares before and after a change. Read over the pod's loopback, the
 * endpoint Prometheus scrapes; the admin socket is not involved, so nothing widens who can
 * reach it.
 */

/** Cumulative counts for one route (site and path prefix), since the proxy started. */
export interface RouteFigures {
  readonly requests: number;
  readonly errors5xx: number;
  /** Requests the proxy answered itself because the upstream failed (502/503/504 of its own). */
  readonly upstreamErrors: number;
  /** The duration histogram: cumulative counts by upper bound in seconds (Infinity last). */
  readonly buckets: ReadonlyMap<number, number>;
}

export type Figures = ReadonlyMap<string, RouteFigures>;

/** `site route`: how a route is named in logs, Events and here. */
export const routeKey = (site: string, route: string): string => `${site} ${route}`;

interface Mutable {
  requests: number;
  errors5xx: number;
  upstreamErrors: number;
  buckets: Map<number, number>;
}

const LINE = /^([a-z_]+)\{([^}]*)\} ([0-9.eE+-]+|NaN|\+Inf)$/;
const LABEL = /([a-z_]+)="((?:[^"\\]|\\.)*)"/g;

/** Parses the lines the figures need from Prometheus text format; ignores everything else. */
export function parseFigures(text: string): Figures {
  const routes = new Map<string, Mutable>();
  const entry = (labels: Record<string, string>): Mutable | undefined => {
    const { site, route } = labels;
    if (site === undefined || route === undefined || site === '') return undefined;
    const key = routeKey(site, route);
    let figures = routes.get(key);
    if (figures === undefined) {
      figures = { requests: 0, errors5xx: 0, upstreamErrors: 0, buckets: new Map() };
      routes.set(key, figures);
    }
    return figures;
  };
  for (const line of text.split('\n')) {
    if (!line.startsWith('reverse_proxy_')) continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const [, name, labelText, valueText] = m as unknown as [string, string, string, string];
    const value = Number(valueText);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const l of labelText.matchAll(LABEL)) labels[l[1] as string] = l[2] as string;
    if (name === 'reverse_proxy_requests_total') {
      const f = entry(labels);
      if (f === undefined) continue;
      f.requests += value;
      if (labels.status_class === '5xx') f.errors5xx += value;
    } else if (name === 'reverse_proxy_upstream_errors_total') {
      const f = entry(labels);
      if (f !== undefined) f.upstreamErrors += value;
    } else if (name === 'reverse_proxy_request_duration_seconds_bucket') {
      const f = entry(labels);
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      if (f !== undefined && !Number.isNaN(le)) f.buckets.set(le, value);
    }
  }
  return routes;
}

/** `later - earlier` per route; a route the earlier sample lacks counts from zero. */
export function deltaFigures(earlier: Figures, later: Figures): Figures {
  const out = new Map<string, RouteFigures>();
  for (const [key, now] of later) {
    const then = earlier.get(key);
    const buckets = new Map<number, number>();
    for (const [le, n] of now.buckets) buckets.set(le, n - (then?.buckets.get(le) ?? 0));
    out.set(key, {
      // A restarted proxy's counters go back to zero: the later figures are the delta then.
      requests:
        now.requests - (then !== undefined && then.requests <= now.requests ? then.requests : 0),
      errors5xx:
        now.errors5xx - (then !== undefined && then.requests <= now.requests ? then.errors5xx : 0),
      upstreamErrors:
        now.upstreamErrors -
        (then !== undefined && then.requests <= now.requests ? then.upstreamErrors : 0),
      buckets,
    });
  }
  return out;
}

/** The p99 as the histogram can tell it: the upper bound of the bucket holding the 99th percentile. */
export function p99Seconds(figures: RouteFigures): number | undefined {
  const count = figures.buckets.get(Infinity) ?? 0;
  if (count <= 0) return undefined;
  const bounds = [...figures.buckets.keys()].sort((a, b) => a - b);
  for (const le of bounds) {
    if ((figures.buckets.get(le) ?? 0) >= 0.99 * count) return le;
  }
  return Infinity;
}

/** Reads the proxy's figures from its metrics URL (the health listener, on loopback). */
export async function fetchFigures(url: string, signal?: AbortSignal): Promise<Figures> {
  const res = await fetch(url, {
    signal:
      signal === undefined
        ? AbortSignal.timeout(5_000)
        : AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return parseFigures(await res.text());
}

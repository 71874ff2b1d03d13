import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/** What a series is keyed by: a route's site and path prefix (both '' for unmatched requests). */
export interface SeriesKey {
  readonly site: string;
  readonly path: string;
}

/** One (site, route) series: plain numbers, updated with no lookup beyond the first. */
class Series {
  readonly site: string;
  readonly route: string;
  /** Responses by status class: index 1 is 1xx ... 5xx; 0 anything else. */
  readonly byClass = new Float64Array(6);
  /** Non-cumulative bucket counts; the last slot is +Inf. */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(key: SeriesKey, bucketCount: number) {
    this.site = key.site;
    this.route = key.path;
    this.buckets = new Float64Array(bucketCount + 1);
  }
}

const REQUESTS_HELP =
  'Proxied requests by site, route and status class (unmatched requests: site="")';
const DURATION_HELP = 'Time from request start to the end of the response, by site and route';

type Value = { labels: Record<string, string | number>; value: number; metricName?: string };

/**
 * The per-request metrics (requests_total and the duration histogram), kept as plain counters
 * per route and turned into Prometheus series only when scraped. prom-client's own
 * `inc(labels)` / `observe(labels)` hash and validate the label object on every call; here a
 * route finds its series through a WeakMap on the frozen Route object, so a reload's new
 * routes find their series again by name once, and the old Route objects are collected.
 * Series are never removed: counters must not go back in time, and their number is bounded by
 * the distinct (site, route) pairs that ever served a request.
 */
export class RequestMetrics {
  readonly #bounds: readonly number[];
  readonly #byName = new Map<string, Series>();
  readonly #byRoute = new WeakMap<SeriesKey, Series>();

  constructor(registry: Registry, names: { requests: string; duration: string }, bounds: number[]) {
    this.#bounds = bounds;
    const series = () => this.#byName.values();
    const requests = new Counter({
      name: names.requests,
      help: REQUESTS_HELP,
      labelNames: ['site', 'route', 'status_class'] as const,
      registers: [],
    });
    requests.get = async () =>
      ({
        name: names.requests,
        help: REQUESTS_HELP,
        type: 'counter',
        aggregator: 'sum',
        values: [...series()].flatMap((s) => counterValues(s)),
      }) as unknown as Awaited<ReturnType<typeof requests.get>>;
    const duration = new Histogram({
      name: names.duration,
      help: DURATION_HELP,
      labelNames: ['site', 'route'] as const,
      buckets: bounds,
      registers: [],
    });
    const histogramData = async () => ({
      name: names.duration,
      help: DURATION_HELP,
      type: 'histogram',
      aggregator: 'sum',
      values: [...series()].flatMap((s) => histogramValues(s, names.duration, bounds)),
    });
    duration.get = histogramData as unknown as typeof duration.get;
    Object.assign(duration, { getForPromString: histogramData });
    registry.registerMetric(requests);
    registry.registerMetric(duration);
  }

  /** Counts one response; `seconds` undefined counts it without a duration (no exchange). */
  record(key: SeriesKey, status: number, seconds: number | undefined): void {
    const s = this.#byRoute.get(key) ?? this.#seriesFor(key);
    const cls = (status / 100) | 0;
    (s.byClass[cls >= 1 && cls <= 5 ? cls : 0] as number)++;
    if (seconds === undefined) return;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    (s.buckets[i] as number)++;
    s.sum += seconds;
    s.count++;
  }

  #seriesFor(key: SeriesKey): Series {
    const name = `${key.site}\u0000${key.path}`;
    let s = this.#byName.get(name);
    if (s === undefined) {
      s = new Series(key, this.#bounds.length);
      this.#byName.set(name, s);
    }
    this.#byRoute.set(key, s);
    return s;
  }
}

const CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];

function counterValues(s: Series): Value[] {
  const out: Value[] = [];
  s.byClass.forEach((n, i) => {
    if (n > 0) {
      out.push({
        labels: { site: s.site, route: s.route, status_class: CLASSES[i] as string },
        value: n,
      });
    }
  });
  return out;
}

function histogramValues(s: Series, name: string, bounds: readonly number[]): Value[] {
  if (s.count === 0) return [];
  const out: Value[] = [];
  let cumulative = 0;
  bounds.forEach((le, i) => {
    cumulative += s.buckets[i] as number;
    out.push({
      labels: { site: s.site, route: s.route, le },
      value: cumulative,
      metricName: `${name}_bucket`,
    });
  });
  const labels = { site: s.site, route: s.route };
  out.push(
    { labels: { ...labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` },
    { labels, value: s.sum, metricName: `${name}_sum` },
    { labels, value: s.count, metricName: `${name}_count` },
  );
  return out;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  deltaFigures,
  p99Seconds,
  parseFigures,
  routeKey,
} from '../../../src/sidecar/rollout/figures.ts';
import type { Figures, RouteFigures } from '../../../src/sidecar/rollout/figures.ts';
import {
  DEFAULT_THRESHOLDS,
  describeRegression,
  findRegression,
} from '../../../src/sidecar/rollout/regression.ts';

const METRICS = `# HELP reverse_proxy_requests_total Proxied requests
# TYPE reverse_proxy_requests_total counter
reverse_proxy_requests_total{site="api",route="/v1/",status_class="2xx"} 90
reverse_proxy_requests_total{site="api",route="/v1/",status_class="5xx"} 10
reverse_proxy_requests_total{site="",route="",status_class="4xx"} 7
reverse_proxy_upstream_errors_total{site="api",route="/v1/",reason="refused"} 4
reverse_proxy_request_duration_seconds_bucket{site="api",route="/v1/",le="0.01"} 50
reverse_proxy_request_duration_seconds_bucket{site="api",route="/v1/",le="0.1"} 99
reverse_proxy_request_duration_seconds_bucket{site="api",route="/v1/",le="1"} 100
reverse_proxy_request_duration_seconds_bucket{site="api",route="/v1/",le="+Inf"} 100
reverse_proxy_other_total 3
`;

/** Figures for one route: `requests`, `errors` 5xx, latencies all in one bucket `le`. */
function route(requests: number, errors: number, le = 0.05, upstreamErrors = 0): RouteFigures {
  return {
    requests,
    errors5xx: errors,
    upstreamErrors,
    buckets: new Map([
      [0.05, le <= 0.05 ? requests : 0],
      [0.5, le <= 0.5 ? requests : 0],
      [5, le <= 5 ? requests : 0],
      [Infinity, requests],
    ]),
  };
}
const one = (r: RouteFigures): Figures => new Map([[routeKey('api', '/v1/'), r]]);

describe('proxy figures', () => {
  it('reads requests, 5xx, upstream errors and the histogram per route from /metrics text', () => {
    const f = parseFigures(METRICS).get('api /v1/');
    assert.equal(f?.requests, 100);
    assert.equal(f?.errors5xx, 10);
    assert.equal(f?.upstreamErrors, 4);
    assert.equal(f?.buckets.get(Infinity), 100);
    assert.equal(parseFigures(METRICS).size, 1, 'unmatched requests (site "") are not a route');
  });

  it('p99 is the bound of the bucket holding the 99th percentile', () => {
    assert.equal(p99Seconds(parseFigures(METRICS).get('api /v1/') as RouteFigures), 0.1);
    assert.equal(p99Seconds(route(0, 0)), undefined);
  });

  it('deltas subtract per route, and a restarted proxy (counters back to zero) counts from zero', () => {
    const d = deltaFigures(one(route(100, 5)), one(route(150, 6))).get('api /v1/');
    assert.equal(d?.requests, 50);
    assert.equal(d?.errors5xx, 1);
    const restarted = deltaFigures(one(route(100, 5)), one(route(20, 1))).get('api /v1/');
    assert.equal(restarted?.requests, 20);
  });
});

describe('findRegression', () => {
  const t = DEFAULT_THRESHOLDS;

  it('a 5xx ratio from 0% to 100% is a regression naming the route and figure', () => {
    const r = findRegression(one(route(500, 0)), one(route(60, 60)), t);
    assert.ok(r !== undefined);
    assert.equal(r.route, 'api /v1/');
    assert.equal(r.figure, 'error_ratio');
    assert.match(
      describeRegression(r),
      /5xx ratio of route api \/v1\/ rose from 0\.0% to 100\.0% over 60 requests/,
    );
  });

  it('needs both the absolute and the relative rise', () => {
    // 0.1% -> 0.3%: three times, but under five points.
    assert.equal(findRegression(one(route(10_000, 10)), one(route(1_000, 3)), t), undefined);
    // 40% -> 46%: six points, but not twice.
    assert.equal(findRegression(one(route(1_000, 400)), one(route(100, 46)), t), undefined);
    // 2% -> 10%: both.
    assert.equal(
      findRegression(one(route(1_000, 20)), one(route(100, 10)), t)?.figure,
      'error_ratio',
    );
  });

  it('a quiet route (below minRequests in the bake) is not judged', () => {
    assert.equal(
      findRegression(one(route(500, 0)), one(route(t.minRequests - 1, t.minRequests - 1)), t),
      undefined,
    );
  });

  it('a route the baseline lacks (new, or silent before) is not judged', () => {
    assert.equal(findRegression(new Map(), one(route(100, 100)), t), undefined);
    assert.equal(findRegression(one(route(0, 0)), one(route(100, 100)), t), undefined);
  });

  it('judges the upstream error ratio and the p99', () => {
    assert.equal(
      findRegression(one(route(500, 0, 0.05, 0)), one(route(100, 0, 0.05, 40)), t)?.figure,
      'upstream_error_ratio',
    );
    const slow = findRegression(one(route(500, 0, 0.05)), one(route(100, 0, 5)), t);
    assert.equal(slow?.figure, 'p99');
    assert.equal(slow?.before, 0.05);
    assert.equal(slow?.after, 5);
    // 0.05 s -> 0.5 s: ten times, but only +450 ms... over the 250 ms: a regression too.
    assert.equal(
      findRegression(one(route(500, 0, 0.05)), one(route(100, 0, 0.5)), t)?.figure,
      'p99',
    );
    // Stricter absolute threshold: not any more.
    assert.equal(
      findRegression(one(route(500, 0, 0.05)), one(route(100, 0, 0.5)), {
        ...t,
        p99IncreaseMs: 1_000,
      }),
      undefined,
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { RequestMetrics } from '../../src/request-metrics.ts';

const names = { requests: 'req_total', duration: 'req_seconds' };

describe('RequestMetrics', () => {
  it('exposes requests by status class and a cumulative histogram', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry, names, [0.01, 0.1]);
    const route = Object.freeze({ site: 'api', path: '/v1/' });
    metrics.record(route, 200, 0.005);
    metrics.record(route, 204, 0.05);
    metrics.record(route, 502, 5);
    metrics.record(route, 404, undefined);
    const text = await registry.metrics();
    assert.match(text, /req_total\{site="api",route="\/v1\/",status_class="2xx"\} 2/);
    assert.match(text, /req_total\{site="api",route="\/v1\/",status_class="5xx"\} 1/);
    assert.match(text, /req_total\{site="api",route="\/v1\/",status_class="4xx"\} 1/);
    assert.match(text, /req_seconds_bucket\{site="api",route="\/v1\/",le="0.01"\} 1/);
    assert.match(text, /req_seconds_bucket\{site="api",route="\/v1\/",le="0.1"\} 2/);
    assert.match(text, /req_seconds_bucket\{site="api",route="\/v1\/",le="\+Inf"\} 3/);
    assert.match(text, /req_seconds_count\{site="api",route="\/v1\/"\} 3/);
    assert.match(text, /# TYPE req_seconds histogram/);
  });

  it('continues the same series for a reloaded route with the same names', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry, names, [1]);
    metrics.record(Object.freeze({ site: 's', path: '/' }), 200, 0.1);
    // A reload builds new, equal Route objects: they must not start a second series.
    metrics.record(Object.freeze({ site: 's', path: '/' }), 200, 0.1);
    const text = await registry.metrics();
    assert.match(text, /req_total\{site="s",route="\/",status_class="2xx"\} 2/);
    assert.equal(text.match(/req_total\{/g)?.length, 1);
  });
});

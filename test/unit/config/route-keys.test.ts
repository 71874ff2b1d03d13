import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError } from '../../../src/errors.ts';

/** One route whose keys (YAML, indented under the route) the test supplies. */
const withRoute = (keys: string) => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    routes:
      - path: /v1/
${keys
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
`;

const check = (yaml: string) =>
  checkConfigBytes(Buffer.from(yaml), 'test.yaml', { allowWildcardBind: false });

function issuesOf(yaml: string): string[] {
  try {
    check(yaml);
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('route keys (v2)', () => {
  it('fills the defaults of every new key', () => {
    const route = check(withRoute('upstream: http://127.0.0.1:9001')).sites[0]?.routes[0];
    assert.deepEqual(route?.timeouts, { connect_ms: 5_000, response_ms: 30_000, idle_ms: 60_000 });
    assert.equal(route?.balance, 'round_robin');
    assert.deepEqual(route?.retries, { attempts: 0, budget_percent: 20 });
    assert.deepEqual(route?.passive_health, { consecutive_failures: 5, ejection_ms: 30_000 });
    assert.equal(route?.strip_prefix, false);
    assert.equal(route?.health_check, undefined);
  });

  it('reads the v1 timeout_ms as timeouts.response_ms', () => {
    const route = check(withRoute('upstream: http://127.0.0.1:9001\ntimeout_ms: 1234')).sites[0]
      ?.routes[0];
    assert.equal(route?.timeouts.response_ms, 1234);
  });

  it('accepts the documented upstreams block', () => {
    const route = check(
      withRoute(`upstreams:
  - { url: "http://10.0.1.5:9001", weight: 2 }
  - url: http://10.0.1.6:9001
balance: least_request
health_check: { path: /healthz, interval_ms: 5000, timeout_ms: 1000, healthy_threshold: 2, unhealthy_threshold: 3 }
passive_health: { consecutive_failures: 5, ejection_ms: 30000 }
timeouts: { connect_ms: 5000, response_ms: 30000, idle_ms: 60000 }
retries: { attempts: 2, budget_percent: 20 }
strip_prefix: true
request_headers: { set: { X-Env: prod, Host: api.internal }, remove: [X-Debug] }
response_headers: { set: { Strict-Transport-Security: max-age=63072000 }, add: { Via: rp } }`),
    ).sites[0]?.routes[0];
    assert.deepEqual(route?.upstreams, [
      { url: 'http://10.0.1.5:9001', weight: 2 },
      { url: 'http://10.0.1.6:9001', weight: 1 },
    ]);
  });

  const refused: [string, string, RegExp][] = [
    [
      'both upstream and upstreams, named by path',
      'upstream: http://127.0.0.1:1\nupstreams: [{ url: "http://127.0.0.1:2" }]',
      /^sites\[0\]\.routes\[0\]: has \[upstream, upstreams\]: use one/,
    ],
    ['neither', 'strip_prefix: true', /^sites\[0\]\.routes\[0\]: needs "upstream"/],
    [
      'the same upstream twice',
      'upstreams: [{ url: "http://127.0.0.1:2" }, { url: "http://127.0.0.1:2" }]',
      /^sites\[0\]\.routes\[0\]\.upstreams\[1\]: lists http:\/\/127\.0\.0\.1:2 twice/,
    ],
    [
      'an empty upstreams list',
      'upstreams: []',
      /^sites\[0\]\.routes\[0\]\.upstreams: must list at least one item$/,
    ],
    [
      'a bad upstream URL in the list',
      'upstreams: [{ url: "ftp://x" }]',
      /^sites\[0\]\.routes\[0\]\.upstreams\[0\]\.url: must be an http\(s\) URL/,
    ],
    [
      'a weight of 0',
      'upstreams: [{ url: "http://127.0.0.1:2", weight: 0 }]',
      /upstreams\[0\]\.weight: must be a whole number from 1 to 1000$/,
    ],
    [
      'an unknown balance',
      'upstream: http://127.0.0.1:1\nbalance: fastest',
      /\.balance: must be one of round_robin, least_request, random$/,
    ],
    [
      'timeout_ms and timeouts.response_ms together',
      'upstream: http://127.0.0.1:1\ntimeout_ms: 5\ntimeouts: { response_ms: 6 }',
      /routes\[0\]: sets both timeout_ms and timeouts\.response_ms/,
    ],
    [
      'a hop-by-hop header in a rule',
      'upstream: http://127.0.0.1:1\nrequest_headers: { set: { Connection: close } }',
      /request_headers\.set: "Connection" is a framing or hop-by-hop header/,
    ],
    [
      'an X-Forwarded header in a rule',
      'upstream: http://127.0.0.1:1\nrequest_headers: { remove: [X-Forwarded-For] }',
      /request_headers\.remove: "X-Forwarded-For" is set by the proxy \(see trusted_proxies\)/,
    ],
    [
      'Host removed',
      'upstream: http://127.0.0.1:1\nrequest_headers: { remove: [host] }',
      /"Host" can be set, never added or removed/,
    ],
    [
      'a header value with a line break',
      'upstream: http://127.0.0.1:1\nresponse_headers: { set: { X-A: "a\\r\\nb" } }',
      /response_headers\.set: "X-A": a value must be at most 8192 bytes without CR, LF or NUL/,
    ],
    [
      'a header name that is not a token',
      'upstream: http://127.0.0.1:1\nresponse_headers: { set: { "X A": b } }',
      /"X A" is not a header name/,
    ],
    [
      'a budget over 100 percent',
      'upstream: http://127.0.0.1:1\nretries: { attempts: 1, budget_percent: 150 }',
      /retries\.budget_percent: must be a number from 0 to 100$/,
    ],
  ];
  for (const [name, keys, expected] of refused) {
    it(`refuses ${name}`, () => {
      const issues = issuesOf(withRoute(keys));
      assert.ok(
        issues.some((i) => expected.test(i)),
        `expected ${String(expected)} in:\n${issues.join('\n')}`,
      );
    });
  }
});

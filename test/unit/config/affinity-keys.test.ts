import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError } from '../../../src/errors.ts';

/** A site whose second route has the given `affinity` (YAML flow value). */
const config = (affinity: string) => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    routes:
      - path: /
        upstream: http://127.0.0.1:9000
      - path: /v1/
        upstreams: [{ url: "http://127.0.0.1:9001" }, { url: "http://127.0.0.1:9002" }]
        affinity: ${affinity}
`;

function issuesOf(yaml: string): string[] {
  try {
    checkConfigBytes(Buffer.from(yaml), 'test.yaml', { allowWildcardBind: false });
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('the affinity key', () => {
  it('accepts a cookie name, with or without max_age_s and secure', () => {
    for (const ok of [
      '{ cookie: rp_affinity }',
      '{ cookie: "INGRESSCOOKIE", max_age_s: 172800 }',
      '{ cookie: "__Host-rp", secure: true }',
      '{ cookie: "a.b-c!#$%&\'*+^_`|~1" }',
    ]) {
      assert.deepEqual(issuesOf(config(ok)), [], ok);
    }
  });

  it('refuses affinity on a redirect route: it has no upstream to stick to', () => {
    const yaml = config('{ cookie: rp }').replace(
      'upstreams: [{ url: "http://127.0.0.1:9001" }, { url: "http://127.0.0.1:9002" }]',
      'redirect: { status: 308, host: www.example.com }',
    );
    assert.deepEqual(issuesOf(yaml), [
      'sites[0].routes[1]: has "redirect" and "affinity": a redirect route has no upstream',
    ]);
  });

  it('names the route and the key of each bad value', () => {
    const cases: [string, RegExp][] = [
      ['{}', /^sites\[0\]\.routes\[1\]\.affinity\.cookie: /],
      ['{ cookie: "" }', /^sites\[0\]\.routes\[1\]\.affinity\.cookie: must be a cookie name/],
      ['{ cookie: "a=b" }', /^sites\[0\]\.routes\[1\]\.affinity\.cookie: must be a cookie name/],
      ['{ cookie: "a b" }', /^sites\[0\]\.routes\[1\]\.affinity\.cookie: must be a cookie name/],
      ['{ cookie: "a;b" }', /^sites\[0\]\.routes\[1\]\.affinity\.cookie: must be a cookie name/],
      [`{ cookie: "${'x'.repeat(65)}" }`, /^sites\[0\]\.routes\[1\]\.affinity\.cookie: must be/],
      ['{ cookie: s, max_age_s: 0 }', /^sites\[0\]\.routes\[1\]\.affinity\.max_age_s: /],
      ['{ cookie: s, max_age_s: 34560001 }', /^sites\[0\]\.routes\[1\]\.affinity\.max_age_s: /],
      ['{ cookie: s, secure: maybe }', /^sites\[0\]\.routes\[1\]\.affinity\.secure: /],
      [
        '{ cookie: s, domain: x }',
        /^sites\[0\]\.routes\[1\]\.affinity\.domain: is not a known key/,
      ],
      [
        '{ cookie: "__Secure-rp" }',
        /^sites\[0\]\.routes\[1\]\.affinity: cookie "__Secure-rp": a __Secure- or __Host- name needs "secure: true"$/,
      ],
      ['rp_affinity', /^sites\[0\]\.routes\[1\]\.affinity: /],
    ];
    for (const [value, pattern] of cases) {
      const found = issuesOf(config(value));
      assert.ok(
        found.some((line) => pattern.test(line)),
        `${value}: ${pattern} among:\n${found.join('\n')}`,
      );
    }
  });
});

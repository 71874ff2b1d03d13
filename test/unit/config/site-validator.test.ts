import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { compileSnapshot } from '../../../src/config/snapshot.ts';
import { SiteValidator } from '../../../src/config/site-validator.ts';
import { matchRoute } from '../../../src/routing/route-table.ts';

const site = (upstream: string) => ({
  name: 'a',
  hosts: ['A.example'],
  routes: [{ path: '/', upstream }],
});

describe('SiteValidator', () => {
  it('validates a site once and hands back the same value while it is unchanged', () => {
    const validator = new SiteValidator();
    const first = validator.validate(site('http://127.0.0.1:1'));
    validator.endGeneration();
    const again = validator.validate(site('http://127.0.0.1:1'));
    assert.ok(first.value !== undefined && again.value !== undefined);
    assert.equal(again.value, first.value, 'the same object, not a re-validated copy');
    assert.equal(first.value.hosts[0], 'a.example', 'defaults and conversions applied');
    assert.equal(first.value.routes[0]?.timeouts.response_ms, 30_000);
  });

  it('validates a changed site anew and never remembers an invalid one', () => {
    const validator = new SiteValidator();
    const before = validator.validate(site('http://127.0.0.1:1'));
    const changed = validator.validate(site('http://127.0.0.1:2'));
    assert.notEqual(changed.value, before.value);
    const bad = validator.validate(site('ftp://x'));
    assert.equal(bad.details?.[0]?.message, 'must be an http(s) URL');
    assert.ok(validator.validate(site('ftp://x')).details, 'still invalid the second time');
  });

  it('forgets sites that two generations in a row did not use', () => {
    const validator = new SiteValidator();
    const first = validator.validate(site('http://127.0.0.1:1')).value;
    validator.endGeneration();
    validator.endGeneration();
    assert.notEqual(validator.validate(site('http://127.0.0.1:1')).value, first);
  });
});

describe('reloading an unchanged site', () => {
  it('reuses its compiled routes, so its Route objects carry over', () => {
    const yaml = (port: number) =>
      `listeners:\n  - address: 127.0.0.1:8080\nsites:\n  - {name: same, hosts: [same.example], routes: [{path: /, upstream: "http://127.0.0.1:1"}]}\n  - {name: other, hosts: [other.example], routes: [{path: /, upstream: "http://127.0.0.1:${port}"}]}\n`;
    const load = (port: number, generation: number) =>
      compileSnapshot(
        checkConfigBytes(Buffer.from(yaml(port)), 't', { allowWildcardBind: false }),
        'x',
        generation,
      );
    const one = load(2, 1);
    const two = load(3, 2);
    assert.equal(
      matchRoute(two.table, 'same.example', '/'),
      matchRoute(one.table, 'same.example', '/'),
    );
    const changed = matchRoute(two.table, 'other.example', '/');
    assert.notEqual(changed, matchRoute(one.table, 'other.example', '/'));
    assert.equal(new URL(changed?.upstreams[0]?.url ?? '').port, '3');
  });
});

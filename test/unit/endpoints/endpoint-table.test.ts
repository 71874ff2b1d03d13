import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEndpoints } from '../../../src/endpoints/endpoint-file.ts';
import type { EndpointsFileData } from '../../../src/endpoints/endpoint-file.ts';
import { EndpointTable } from '../../../src/endpoints/endpoint-table.ts';
import { createLogger } from '../../../src/log.ts';
import { buildRouteTable, matchRoute } from '../../../src/routing/route-table.ts';
import type { Route } from '../../../src/routing/route-table.ts';
import { UpstreamClient } from '../../../src/upstream/upstream-client.ts';
import { UpstreamRegistry } from '../../../src/upstream/upstream-registry.ts';
import type { TargetState } from '../../../src/upstream/target-state.ts';
import { routeConfig } from '../../route-config.ts';

const ep = (address: string, conditions: Record<string, boolean> = {}) => ({
  address,
  port: 8080,
  ready: true,
  serving: true,
  terminating: false,
  ...conditions,
});

const data = (services: Record<string, ReturnType<typeof ep>[]>): EndpointsFileData => ({
  generated_at: '2026-12-03T18:00:00.000Z',
  services: Object.entries(services).map(([name, endpoints]) => {
    const [service, port] = name.split(':') as [string, string];
    return { service, port, resolved_port: 8080, problem: null, endpoints };
  }),
});

describe('endpoints file', () => {
  const file = (services: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      kind: 'ReverseProxyEndpoints',
      version: 1,
      generated_at: '2026-12-03T18:00:00.000Z',
      services,
      ...extra,
    });
  const refused = (text: string, why: RegExp) =>
    assert.throws(
      () => parseEndpoints('/run/e.json', text),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_ENDPOINTS_INVALID' && why.test(err.message),
    );

  it('keeps the known fields only', () => {
    const parsed = parseEndpoints(
      'e.json',
      file([
        {
          service: 'u',
          port: 'http',
          resolved_port: 8080,
          problem: null,
          endpoints: [{ ...ep('fd00::5'), zone: 'a' }],
          x: 1,
        },
      ]),
    );
    assert.deepEqual(parsed.services[0]?.endpoints, [ep('fd00::5')]);
    assert.equal(Object.hasOwn(parsed.services[0] as object, 'x'), false);
  });

  it('names what is wrong', () => {
    refused('{', /is not JSON/);
    refused(file([], { kind: 'Other' }), /kind: must be "ReverseProxyEndpoints"/);
    refused(file([], { version: 2 }), /version: must be 1/);
    refused(
      file([
        {
          service: 'u',
          port: 'http',
          resolved_port: null,
          problem: null,
          endpoints: [ep('10.0.0.256')],
        },
      ]),
      /services\[0\]\.endpoints\[0\]\.address/,
    );
    refused(
      file([
        {
          service: 'u',
          port: 'http',
          resolved_port: null,
          problem: null,
          endpoints: [ep('fe80::1%eth0')],
        },
      ]),
      /address/,
    );
    refused(
      file([
        {
          service: 'u',
          port: 'http',
          resolved_port: null,
          problem: null,
          endpoints: [{ ...ep('10.0.0.1'), port: 0 }],
        },
      ]),
      /endpoints\[0\]\.port/,
    );
    refused(
      file([
        {
          service: 'u',
          port: 'http',
          resolved_port: null,
          problem: null,
          endpoints: [{ ...ep('10.0.0.1'), ready: 'yes' }],
        },
      ]),
      /endpoints\[0\]\.ready/,
    );
    refused(
      file([
        { service: 'u', port: 'http', resolved_port: null, problem: null, endpoints: [] },
        { service: 'u', port: 'http', resolved_port: null, problem: null, endpoints: [] },
      ]),
      /listed twice/,
    );
  });
});

describe('EndpointTable', () => {
  it('takes ready endpoints, else serving + terminating ones', () => {
    const table = new EndpointTable(
      data({
        'a:http': [
          ep('10.0.0.1'),
          ep('10.0.0.2', { ready: false, terminating: true }),
          ep('10.0.0.3', { ready: false }),
        ],
        'b:http': [
          ep('10.0.1.1', { ready: false, terminating: true }),
          ep('10.0.1.2', { ready: false, serving: false, terminating: true }),
        ],
      }),
    );
    assert.deepEqual(
      table.get('a\0http')?.targets.map((t) => t.url),
      ['http://10.0.0.1:8080'],
    );
    assert.deepEqual(
      table.get('b\0http')?.targets.map((t) => t.url),
      ['http://10.0.1.1:8080'],
    );
    assert.equal(table.endpointCount, 5);
  });
});

describe('UpstreamRegistry with service routes', () => {
  const table = buildRouteTable([
    Object.freeze({
      name: 's',
      hosts: ['s.test'],
      routes: [
        routeConfig({
          path: '/',
          upstreams: [
            { service: 'a', port: 'http', weight: 3 },
            { service: 'b', port: 'http', weight: 1 },
          ],
        }),
      ],
    }),
  ]);
  const route = matchRoute(table, 's.test', '/') as Route;

  it('splits entry weights over endpoints and keeps the states of addresses that stay', () => {
    const client = new UpstreamClient({ maxConnections: 4, maxQueued: 4, idleTimeoutMs: 1_000 });
    const registry = new UpstreamRegistry(createLogger('silent'), client);
    try {
      registry.applyEndpoints(
        new EndpointTable(
          data({ 'a:http': [ep('10.0.0.1'), ep('10.0.0.2')], 'b:http': [ep('10.0.1.1')] }),
        ),
      );
      registry.reconcile(table);
      const runtime = registry.runtime(route);
      assert.deepEqual(
        runtime.states.map((s) => [s.target.url, s.target.weight]),
        [
          ['http://10.0.0.1:8080', 1.5],
          ['http://10.0.0.2:8080', 1.5],
          ['http://10.0.1.1:8080', 1],
        ],
      );
      const kept = runtime.states[1] as TargetState;
      kept.ejectedUntil = Date.now() + 60_000;
      registry.applyEndpoints(
        new EndpointTable(
          data({
            'a:http': [ep('10.0.0.2'), ep('10.0.0.3'), ep('10.0.0.4')],
            'b:http': [ep('10.0.1.1')],
          }),
        ),
      );
      assert.equal(registry.runtime(route), runtime);
      assert.equal(runtime.states.length, 4);
      assert.equal(runtime.states[0], kept);
      assert.equal(kept.target.weight, 1);
      assert.ok(kept.ejectedUntil > Date.now());
      assert.equal([...registry.states()].length, 4);

      registry.applyEndpoints(new EndpointTable(data({})));
      assert.equal(runtime.states.length, 0);
      assert.equal([...registry.states()].length, 0);
    } finally {
      registry.close();
      client.close();
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../../src/log.ts';
import { buildRouteTable, matchRoute } from '../../../src/routing/route-table.ts';
import type { Route, RouteTableSite } from '../../../src/routing/route-table.ts';
import { UpstreamClient } from '../../../src/upstream/upstream-client.ts';
import { UpstreamRegistry } from '../../../src/upstream/upstream-registry.ts';
import { startUpstream } from '../../helpers.ts';
import { routeConfig } from '../../route-config.ts';
import { eventually } from '../../sidecar-process.ts';

const site = (name: string, keys: Record<string, unknown>): RouteTableSite =>
  Object.freeze({
    name,
    hosts: [`${name}.test`],
    routes: [routeConfig({ path: '/', ...keys })],
  });

describe('UpstreamRegistry.reconcile', () => {
  it('keeps what it learnt for unchanged routes, starts and stops probers with the config', async () => {
    let probes = 0;
    const up = await startUpstream('up', (_req, res) => {
      probes++;
      res.end('ok');
    });
    const client = new UpstreamClient({ maxConnections: 4, maxQueued: 4, idleTimeoutMs: 1_000 });
    const registry = new UpstreamRegistry(createLogger('silent'), client);
    try {
      const checked = site('a', {
        upstream: up.url,
        health_check: { path: '/healthz', interval_ms: 100 },
      });
      const other = site('b', { upstream: 'http://127.0.0.1:1' });
      const first = buildRouteTable([checked, other]);
      registry.reconcile(first);
      await eventually('probed', () => (probes >= 2 ? true : undefined));
      const routeB = matchRoute(first, 'b.test', '/') as Route;
      const stateB = registry.runtime(routeB).states[0];

      // Site a loses its health check; site b is the same frozen object: its state stays.
      const second = buildRouteTable([site('a', { upstream: up.url }), other]);
      registry.reconcile(second);
      const after = probes;
      await new Promise((resolve) => setTimeout(resolve, 350));
      assert.ok(probes <= after + 1, `probes went on: ${after} -> ${probes}`);
      const routeB2 = matchRoute(second, 'b.test', '/') as Route;
      assert.equal(registry.runtime(routeB2).states[0], stateB);

      // Site b removed: its state is forgotten.
      registry.reconcile(buildRouteTable([site('a', { upstream: up.url })]));
      assert.ok(![...registry.states()].includes(stateB as never));
    } finally {
      registry.close();
      client.close();
      await up.close();
    }
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { checkConfigBytes } from '../../src/config/check.ts';
import { tmpDir } from '../helpers.ts';
import { findKind, render } from './manifests.ts';

/**
 * Issues 20 and 21: the chart's `config` value takes the access and limit keys on sites and
 * routes, and `cors` on routes.
 */
describe('helm chart: access control and limits', () => {
  it('renders access, rate_limit and max_body_bytes as given, and the proxy accepts them', async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-access-');
    try {
      const site = {
        name: 'admin',
        hosts: ['admin.example.com'],
        access: { deny: ['10.9.0.0/16'], allow: ['10.0.0.0/8', '192.168.1.7'] },
        rate_limit: { requests_per_second: 5, burst: 10, by: 'client_ip' },
        max_body_bytes: 1048576,
        routes: [
          {
            path: '/',
            upstream: 'http://admin.default.svc.cluster.local:8080',
            access: {
              forward_auth: {
                url: 'http://auth.default.svc.cluster.local:9000/check',
                timeout_ms: 1000,
                request_headers: ['Authorization', 'Cookie'],
                response_headers: ['X-User'],
              },
            },
            max_body_bytes: 0,
          },
        ],
      };
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify({ config: { sites: [site] } }));
      const [configMap] = findKind(render(['-f', file]), 'ConfigMap');
      const text = String(configMap?.data['proxy.yaml']);
      assert.deepEqual((parse(text) as { sites: unknown[] }).sites, [site]);
      const checked = checkConfigBytes(Buffer.from(text), 'cm', { allowWildcardBind: true });
      assert.deepEqual(checked.sites[0]?.rate_limit, site.rate_limit);

      const bad = join(dir, 'bad.json');
      writeFileSync(
        bad,
        JSON.stringify({
          config: { sites: [{ ...site, rate_limit: { requests_per_second: 0, by: 'everyone' } }] },
        }),
      );
      assert.throws(() => render(['-f', bad]), /rate_limit/);
    } finally {
      await cleanup();
    }
  });

  it("renders a route's cors as given, the proxy accepts it, and the schema refuses a bad one", async () => {
    const { dir, cleanup } = await tmpDir('rp-chart-cors-');
    try {
      const cors = {
        allow_origins: ['https://app.example.com'],
        allow_methods: ['GET', 'POST'],
        allow_headers: ['Authorization'],
        expose_headers: ['X-Total'],
        allow_credentials: true,
        max_age_s: 600,
      };
      const site = {
        name: 'app',
        hosts: ['api.example.com'],
        routes: [{ path: '/app/', upstream: 'http://app.default.svc:8080', cors }],
      };
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify({ config: { sites: [site] } }));
      const [configMap] = findKind(render(['-f', file]), 'ConfigMap');
      const text = String(configMap?.data['proxy.yaml']);
      assert.deepEqual((parse(text) as { sites: unknown[] }).sites, [site]);
      const checked = checkConfigBytes(Buffer.from(text), 'cm', { allowWildcardBind: true });
      assert.deepEqual(checked.sites[0]?.routes[0]?.cors, cors);
      for (const bad of [
        { ...cors, allow_origins: ['https://app.example.com/path'] },
        { ...cors, max_age_s: 86401 },
        { ...cors, allow_origin: ['https://app.example.com'] },
      ]) {
        const path = join(dir, 'bad.json');
        const route = { ...site.routes[0], cors: bad };
        writeFileSync(path, JSON.stringify({ config: { sites: [{ ...site, routes: [route] }] } }));
        assert.throws(() => render(['-f', path]), /cors/);
      }
    } finally {
      await cleanup();
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate } from '../../../src/sidecar/endpoint-aggregation.ts';
import type { SliceLike } from '../../../src/sidecar/endpoint-aggregation.ts';
import { serviceRefsOf } from '../../../src/sidecar/service-refs.ts';

const slice = (
  name: string,
  endpoints: NonNullable<SliceLike['endpoints']>,
  ports: NonNullable<SliceLike['ports']>,
  addressType = 'IPv4',
): SliceLike => ({
  metadata: { name, labels: { 'kubernetes.io/service-name': 'users' } },
  addressType,
  endpoints,
  ports,
});
const HTTP = [{ name: 'http', port: 8080 }];

describe('EndpointSlice aggregation', () => {
  it('resolves a named port by name and a number by the endpoints port, per slice', () => {
    const slices = new Map([
      [
        'users',
        [
          slice('a', [{ addresses: ['10.0.0.2'] }], HTTP),
          slice('b', [{ addresses: ['10.0.0.1'] }], [{ name: 'http', port: 8081 }]),
        ],
      ],
    ]);
    const [named, numbered] = aggregate(
      [
        { service: 'users', port: 'http' },
        { service: 'users', port: 8081 },
      ],
      slices,
    );
    assert.equal(named?.resolved_port, 8080);
    assert.deepEqual(
      named?.endpoints.map((e) => `${e.address}:${e.port}`),
      ['10.0.0.1:8081', '10.0.0.2:8080'],
    );
    assert.equal(numbered?.resolved_port, 8081);
    assert.deepEqual(
      numbered?.endpoints.map((e) => e.address),
      ['10.0.0.1'],
    );
    assert.equal(numbered?.port, 8081, 'the port as the config wrote it');
  });

  it('reads missing conditions as the API says, writes an address once (ready wins), skips FQDN', () => {
    const slices = new Map([
      [
        'users',
        [
          slice(
            'a',
            [{ addresses: ['10.0.0.1'], conditions: { ready: false, terminating: true } }],
            HTTP,
          ),
          slice('b', [{ addresses: ['10.0.0.1', '10.9.9.9'], conditions: { ready: true } }], HTTP),
          slice('c', [{ addresses: ['db.example'] }], HTTP, 'FQDN'),
        ],
      ],
    ]);
    const [entry] = aggregate([{ service: 'users', port: 'http' }], slices);
    assert.deepEqual(entry?.endpoints, [
      { address: '10.0.0.1', port: 8080, ready: true, serving: true, terminating: false },
    ]);
  });

  it('reports a port the slices lack and a Service without slices; a scaled-to-zero one is fine', () => {
    const slices = new Map([
      ['users', [slice('a', [{ addresses: ['10.0.0.1'] }], [{ name: 'metrics', port: 9090 }])]],
      ['idle', [slice('i', [], [])]],
    ]);
    const [port, none, idle] = aggregate(
      [
        { service: 'users', port: 'http' },
        { service: 'ghost', port: 80 },
        { service: 'idle', port: 'http' },
      ],
      slices,
    );
    assert.equal(
      port?.problem,
      'port "http" is not a port of Service "users" (its endpoints have: metrics 9090)',
    );
    assert.deepEqual(port?.endpoints, []);
    assert.equal(none?.problem, 'Service "ghost" has no EndpointSlices');
    assert.equal(idle?.problem, null);
    assert.equal(idle?.resolved_port, null);
  });

  it('finds the (service, port) pairs a config names, each once', () => {
    const yaml = `sites:
  - name: a
    hosts: ["*"]
    routes:
      - path: /
        upstreams:
          - { service: users, port: http, weight: 3 }
          - { url: "http://127.0.0.1:1" }
      - path: /b
        upstreams:
          - { service: users, port: http }
          - { service: users, port: 8080 }
`;
    assert.deepEqual(serviceRefsOf(Buffer.from(yaml)), [
      { service: 'users', port: 'http' },
      { service: 'users', port: 8080 },
    ]);
  });
});

describe('aggregate: one endpoint per address and port', () => {
  const ref = [{ service: 'users', port: 'http' }];
  it('writes an IPv6 address once, however the slices spelled it', () => {
    const slices = [
      slice('a', [{ addresses: ['FD00:0:0::2'] }], [{ name: 'http', port: 8080 }], 'IPv6'),
      slice('b', [{ addresses: ['fd00::2'] }], [{ name: 'http', port: 8080 }], 'IPv6'),
    ];
    const [entry] = aggregate(ref, new Map([['users', slices]]));
    assert.deepEqual(
      entry?.endpoints.map((e) => e.address),
      ['fd00::2'],
    );
  });

  it('keeps one address on two ports (a named port resolved differently per pod) as two', () => {
    const slices = [
      slice('a', [{ addresses: ['10.0.0.1'] }], [{ name: 'http', port: 8080 }]),
      slice('b', [{ addresses: ['10.0.0.1'] }], [{ name: 'http', port: 8081 }]),
    ];
    const [entry] = aggregate(ref, new Map([['users', slices]]));
    assert.deepEqual(
      entry?.endpoints.map((e) => `${e.address}:${e.port}`),
      ['10.0.0.1:8080', '10.0.0.1:8081'],
    );
  });

  it('skips an address that is not of the slice type', () => {
    const slices = [
      slice(
        'a',
        [{ addresses: ['fd00::1'] }, { addresses: ['10.0.0.9'] }],
        [{ name: 'http', port: 80 }],
      ),
    ];
    const [entry] = aggregate(ref, new Map([['users', slices]]));
    assert.deepEqual(
      entry?.endpoints.map((e) => e.address),
      ['10.0.0.9'],
    );
  });
});

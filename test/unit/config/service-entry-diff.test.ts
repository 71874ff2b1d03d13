import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { diffConfigs } from '../../../src/config/config-diff.ts';
import { formatDiff } from '../../../src/config/config-diff-text.ts';

const config = (upstreams: string) =>
  checkConfigBytes(
    Buffer.from(
      `listeners:\n  - address: 127.0.0.1:8080\nsites:\n  - name: api\n    hosts: [api.test]\n    routes:\n      - path: /\n        upstreams: ${upstreams}\n`,
    ),
    't',
    { allowWildcardBind: false, endpointSource: true },
  );

describe('diff of service upstreams', () => {
  it('names service entries as service NAME:PORT', () => {
    const from = config('[{ service: users, port: http }, { url: "http://a:1" }]');
    const to = config(
      '[{ service: users, port: http, weight: 3 }, { service: orders, port: 8080 }]',
    );
    const lines = formatDiff(diffConfigs(from, to)).join('\n');
    assert.match(lines, /\+ service orders:8080/);
    assert.match(lines, /- http:\/\/a:1/);
    assert.match(lines, /service users:http weight 1 -> 3/);
  });

  it('tells a port name from a port number', () => {
    const lines = formatDiff(
      diffConfigs(
        config('[{ service: users, port: http }]'),
        config('[{ service: users, port: 8080 }]'),
      ),
    ).join('\n');
    assert.match(lines, /service users:http -> service users:8080/);
  });
});

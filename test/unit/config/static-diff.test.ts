import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { diffStaticFields } from '../../../src/config/static-diff.ts';

const config = (yaml: string) =>
  checkConfigBytes(Buffer.from(yaml), 't', { allowWildcardBind: false });
const BASE = 'listeners:\n  - address: 127.0.0.1:8080\nsites: []\n';

describe('diffStaticFields', () => {
  it('is empty when only sites change', () => {
    const next = `${BASE.replace('sites: []', 'sites:\n  - {name: a, hosts: [a], routes: [{path: /, upstream: "http://127.0.0.1:1"}]}')}`;
    assert.deepEqual(diffStaticFields(config(BASE), config(next)), []);
  });

  it('names listeners and the changed sub-keys of other static sections', () => {
    const next = config(
      'listeners:\n  - address: 127.0.0.1:8081\nadmin:\n  socket: /run/x/other.sock\n  max_connections: 3\nhealth:\n  address: 127.0.0.1:9901\nsites: []\n',
    );
    assert.deepEqual(diffStaticFields(config(BASE), next), [
      'listeners',
      'admin.max_connections',
      'admin.socket',
      'health.address',
    ]);
  });
});

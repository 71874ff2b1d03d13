import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError, formatIssue } from '../../../src/errors.ts';

/** A valid config with `route` as the keys of its one route, and `top` added at the top. */
function configWith(route: string, top = '', site = ''): string {
  const routeLines = route
    .split('\n')
    .map((line) => `        ${line}`)
    .join('\n');
  return `listeners:
  - address: 127.0.0.1:8080
${top}
sites:
  - name: api
    hosts: [api.example.com]
${site}
    routes:
      - path: /
${routeLines}
`;
}

function issuesOf(yaml: string): string[] {
  try {
    checkConfigBytes(Buffer.from(yaml), 'test.yaml', { allowWildcardBind: false });
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err.issues.map(formatIssue);
    throw err;
  }
  return [];
}

const UP = 'upstream: http://127.0.0.1:9001';

describe('config error messages', () => {
  const cases: [string, string, string[]][] = [
    [
      'an unknown key names the nearest known one',
      configWith(`${UP}\nstrip_prefx: true`),
      [
        'sites[0].routes[0].strip_prefx: is not a known key; did you mean `strip_prefix`? (line 11)',
      ],
    ],
    [
      'a near key is looked up where the typo is (top level, listener, site)',
      configWith(UP, 'helth:\n  address: 127.0.0.1:9900', '    https_redirct: true').replace(
        '  - address: 127.0.0.1:8080',
        '  - address: 127.0.0.1:8080\n    tsl: true',
      ),
      [
        'listeners[0].tsl: is not a known key; did you mean `tls`? (line 3)',
        'helth: is not a known key; did you mean `health`? (line 5)',
        'sites[0].https_redirct: is not a known key; did you mean `https_redirect`? (line 9)',
      ],
    ],
    [
      'an unknown key with nothing near says only that',
      configWith(`${UP}\ncolour: blue`),
      ['sites[0].routes[0].colour: is not a known key (line 11)'],
    ],
    [
      'milliseconds give their range, once for a value wrong in two ways',
      configWith(
        `${UP}\ntimeouts: { connect_ms: 0, idle_ms: 1.5 }`,
        'client:\n  header_timeout_ms: 5.5\n  request_timeout_ms: 50',
      ),
      [
        'client.header_timeout_ms: must be a whole number of milliseconds, 1000 to 600000 (line 4)',
        'client.request_timeout_ms: must be 0 or a whole number of milliseconds, 1000 to 86400000 (line 5)',
        'sites[0].routes[0].timeouts.connect_ms: must be a whole number of milliseconds, 1 to 600000 (line 13)',
        'sites[0].routes[0].timeouts.idle_ms: must be a whole number of milliseconds, 1 to 3600000 (line 13)',
      ],
    ],
    [
      'other numbers give their range and whether they are whole',
      configWith(
        `${UP}\nretries: { attempts: many, budget_percent: 101 }`,
        'admin:\n  max_connections: 0',
      ),
      [
        'admin.max_connections: must be a whole number from 1 to 1000 (line 4)',
        'sites[0].routes[0].retries.attempts: must be a whole number from 0 to 10 (line 12)',
        'sites[0].routes[0].retries.budget_percent: must be a number from 0 to 100 (line 12)',
      ],
    ],
    [
      'a listen address that YAML read as a number gives the form',
      configWith(UP).replace('address: 127.0.0.1:8080', 'address: 8080'),
      [
        'listeners[0].address: must be HOST:PORT such as 127.0.0.1:8080 (quoted in YAML when it is a bare port) (line 2)',
      ],
    ],
    [
      'an upstream that is not a string is still "an http(s) URL"',
      configWith('upstream: 9001'),
      ['sites[0].routes[0].upstream: must be an http(s) URL (line 10)'],
    ],
    [
      'booleans, lists, choices and text in plain words',
      configWith(`${UP}\nbalance: fastest`, 'log:\n  access_log: yes', '    https_redirect: 1')
        .replace('hosts: [api.example.com]', 'hosts: api.example.com')
        .replace('name: api', 'name: 42'),
      [
        'log.access_log: must be true or false (line 4)',
        'sites[0].name: must be a string (YAML reads 42 as a number; quote it if text is meant) (line 6)',
        'sites[0].hosts: must be a list (line 7)',
        'sites[0].routes[0].balance: must be one of round_robin, least_request, random (line 12)',
        'sites[0].https_redirect: must be true or false (line 8)',
      ],
    ],
    [
      'an empty list that needs an item',
      'listeners: []\nsites: []\n',
      ['listeners: must list at least one item (line 1)'],
    ],
  ];
  for (const [name, yaml, expected] of cases) {
    it(name, () => assert.deepEqual(issuesOf(yaml), expected));
  }
});

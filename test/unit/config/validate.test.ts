import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError, ProxyError } from '../../../src/errors.ts';

const BASE = `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com, "*.example.com"]
    routes:
      - path: /v1/
        upstream: http://127.0.0.1:9001
`;

function check(yaml: string, allowWildcardBind = false) {
  return checkConfigBytes(Buffer.from(yaml), 'test.yaml', { allowWildcardBind });
}

function issuesOf(yaml: string, allowWildcardBind = false): string[] {
  try {
    check(yaml, allowWildcardBind);
  } catch (err) {
    if (err instanceof ConfigInvalidError) {
      return err.issues.map((i) => `${i.path}: ${i.message}${i.line ? ` @${i.line}` : ''}`);
    }
    throw err;
  }
  return [];
}

function siteYaml(name: string, hosts: string, routes: string): string {
  return `  - name: ${name}\n    hosts: ${hosts}\n    routes:\n${routes}`;
}
const ROUTE = '      - path: /\n        upstream: http://127.0.0.1:9001\n';

describe('config validation', () => {
  it('accepts the documented example and fills every default from the schema', () => {
    const config = check(BASE);
    assert.equal(config.admin.socket, '/run/reverse-proxy/admin.sock');
    assert.deepEqual(config.admin.allowed_uids, []);
    assert.equal(config.admin.max_connections, 10);
    assert.equal(config.health.address, '127.0.0.1:9900');
    assert.equal(config.sites[0]?.routes[0]?.timeouts.response_ms, 30_000);
    assert.equal(config.log.level, 'info');
    assert.deepEqual(config.trusted_proxies, []);
    assert.deepEqual(config.client, {
      header_timeout_ms: 60_000,
      body_idle_timeout_ms: 60_000,
      body_min_rate_bytes_per_s: 512,
      request_timeout_ms: 300_000,
      keepalive_timeout_ms: 75_000,
    });
    assert.deepEqual(config.upstream_pool, { max_connections: 1_024, max_queued: 1_024 });
  });

  const cases: { name: string; yaml: string; expect: RegExp[]; flag?: boolean }[] = [
    {
      name: 'a non-http upstream, with its path and line',
      yaml: BASE.replace('http://127.0.0.1:9001', 'ftp://127.0.0.1:9001'),
      expect: [/^sites\[0\]\.routes\[0\]\.upstream: must be an http\(s\) URL @8$/],
    },
    {
      name: 'an upstream that is not a URL',
      yaml: BASE.replace('http://127.0.0.1:9001', 'not a url'),
      expect: [/upstream: must be an http\(s\) URL/],
    },
    {
      name: 'credentials in an upstream URL',
      yaml: BASE.replace('http://127.0.0.1:9001', 'http://u:p@127.0.0.1:9001'),
      expect: [/upstream: must not carry credentials/],
    },
    {
      name: 'an unknown key (a typo) anywhere',
      yaml: BASE.replace('    routes:', '    hots: [x]\n    routes:').replace(
        'listeners:',
        'listners: []\nlisteners:',
      ),
      expect: [
        /^listners: is not a known key; did you mean `listeners`\? @1$/,
        /^sites\[0\]\.hots: is not a known key; did you mean `hosts`\?/,
      ],
    },
    {
      name: 'duplicate site names',
      yaml: BASE + siteYaml('api', '[other.example.org]', ROUTE),
      expect: [/^sites\[1\]\.name: "api" is already used by sites\[0\] @9$/],
    },
    {
      name: 'the same host claimed by two sites',
      yaml: BASE + siteYaml('web', '[www.example.org, api.example.com]', ROUTE),
      expect: [
        /^sites\[1\]\.hosts\[1\]: "api\.example\.com" is already claimed by site "api" \(sites\[0\]\)/,
      ],
    },
    {
      name: 'the same host twice in one site, case-insensitively',
      yaml: BASE.replace('[api.example.com,', '[api.example.com, API.example.com,'),
      expect: [/^sites\[0\]\.hosts\[1\]: "api\.example\.com" is already claimed by this site/],
    },
    {
      name: 'duplicate paths in a site',
      yaml: BASE + '      - path: /v1/\n        upstream: http://127.0.0.1:9002\n',
      expect: [/^sites\[0\]\.routes\[1\]\.path: "\/v1\/" is already routed by routes\[0\]/],
    },
    {
      name: 'a wildcard listener without --allow-wildcard-bind',
      yaml: BASE.replace('127.0.0.1:8080', '0.0.0.0:8080'),
      expect: [
        /^listeners\[0\]\.address: 0\.0\.0\.0:8080 listens on every interface; pass --allow-wildcard-bind/,
      ],
    },
    {
      name: 'an IPv6 wildcard listener without the flag',
      yaml: BASE.replace('127.0.0.1:8080', '"[::]:8080"'),
      expect: [/listeners\[0\]\.address: \[::\]:8080 listens on every interface/],
    },
    {
      name: 'a wildcard health listener without the flag',
      yaml: `${BASE}health:\n  address: 0.0.0.0:9900\n`,
      expect: [/^health\.address: 0\.0\.0\.0:9900 listens on every interface/],
    },
    {
      name: 'a port out of range and a malformed address',
      yaml: BASE.replace(
        '127.0.0.1:8080',
        '127.0.0.1:70000\n  - address: example.com:80\n  - address: "::1:80"',
      ),
      expect: [
        /^listeners\[0\]\.address: port "70000" must be a number from 0 to 65535/,
        /^listeners\[1\]\.address: host "example\.com" must be an IPv4 address/,
        /^listeners\[2\]\.address: an IPv6 address must be in brackets/,
      ],
    },
    {
      name: 'two listeners on the same address',
      yaml: BASE.replace(
        '  - address: 127.0.0.1:8080',
        '  - address: 127.0.0.1:8080\n  - address: 127.0.0.1:8080',
      ),
      expect: [
        /^listeners\[1\]\.address: 127\.0\.0\.1:8080 is already used by listeners\[0\]\.address/,
      ],
    },
    {
      name: 'a relative admin socket path',
      yaml: `${BASE}admin:\n  socket: run/admin.sock\n`,
      expect: [/^admin\.socket: must be an absolute path/],
    },
    {
      name: 'an admin socket path with ..',
      yaml: `${BASE}admin:\n  socket: /run/../tmp/admin.sock\n`,
      expect: [/^admin\.socket: must not contain "\." or "\.\." components/],
    },
    {
      name: 'an admin socket path longer than sun_path',
      yaml: `${BASE}admin:\n  socket: /run/${'a'.repeat(100)}.sock\n`,
      expect: [/^admin\.socket: must be at most 107 bytes/],
    },
    {
      name: 'an admin socket path without a socket suffix',
      yaml: `${BASE}admin:\n  socket: /run/reverse-proxy/admin\n`,
      expect: [/^admin\.socket: must end in \.sock or \.socket/],
    },
    {
      name: 'a path that does not start with /',
      yaml: BASE.replace('path: /v1/', 'path: v1/'),
      expect: [/^sites\[0\]\.routes\[0\]\.path: must start with "\/"/],
    },
    {
      name: 'a malformed host pattern',
      yaml: BASE.replace('"*.example.com"', '"a.*.example.com"'),
      expect: [/^sites\[0\]\.hosts\[1\]: must be a host name, "\*\.domain" or "\*"/],
    },
    {
      name: 'wrong types',
      yaml: BASE.replace('127.0.0.1:9001', '127.0.0.1:9001\n        timeout_ms: soon').replace(
        '  - name: api',
        '  - name: 42x\n    extra: 1',
      ),
      expect: [
        /timeout_ms: must be a whole number of milliseconds, 1 to 3600000/,
        /extra: is not a known key @\d+$/,
      ],
    },
    {
      name: 'too many routes in one site',
      yaml:
        BASE +
        '      - path: /p\n        upstream: http://127.0.0.1:1\n'.repeat(1).replace('/p', '/p0') +
        Array.from(
          { length: 1000 },
          (_, i) => `      - path: /q${i}\n        upstream: http://127.0.0.1:1\n`,
        ).join(''),
      expect: [/^sites\[0\]\.routes: must list at most 1000 items/],
    },
    {
      name: 'a route path not in normal form, with the form to write',
      yaml: BASE.replace('path: /v1/', 'path: //v1/%61/'),
      expect: [/^sites\[0\]\.routes\[0\]\.path: is not in normal form: write "\/v1\/a\/"/],
    },
    {
      name: 'a route path the proxy would refuse as a request path',
      yaml: BASE.replace('path: /v1/', 'path: /v1/%2f/'),
      expect: [/^sites\[0\]\.routes\[0\]\.path: holds an encoded "\/"/],
    },
    {
      name: 'a trusted_proxies entry that is not an address or a network',
      yaml: `trusted_proxies: [10.0.0.0/8, 10.0.0.0/33, proxy.internal]\n${BASE}`,
      expect: [
        /^trusted_proxies\[1\]: prefix "\/33" must be a number from 0 to 32/,
        /^trusted_proxies\[2\]: "proxy.internal" is not an IPv4 or IPv6 address/,
      ],
    },
    {
      name: 'a header timeout longer than the whole-request timeout',
      yaml: `client: { header_timeout_ms: 90000, request_timeout_ms: 60000 }\n${BASE}`,
      expect: [/^client\.header_timeout_ms: 90000 is longer than client\.request_timeout_ms/],
    },
    {
      name: 'missing required keys',
      yaml: 'sites:\n  - name: a\n',
      expect: [
        /^listeners: is required/,
        /^sites\[0\]\.hosts: is required @2/,
        /^sites\[0\]\.routes: is required/,
      ],
    },
    {
      name: 'an empty file',
      yaml: '',
      expect: [/^: the config is empty/],
    },
    {
      name: 'a document that is not a mapping',
      yaml: '- a\n- b\n',
      expect: [/must be of type object|must be a mapping/],
    },
  ];

  for (const c of cases) {
    it(`reports ${c.name}`, () => {
      const issues = issuesOf(c.yaml, c.flag);
      for (const pattern of c.expect) {
        assert.ok(
          issues.some((i) => pattern.test(i)),
          `expected ${pattern} in:\n${issues.join('\n')}`,
        );
      }
    });
  }

  it('reports every error at once, not only the first', () => {
    const yaml = BASE.replace('ftp', 'x')
      .replace('127.0.0.1:8080', '0.0.0.0:8080')
      .replace('http://127.0.0.1:9001', 'gopher://x')
      .replace('path: /v1/', 'path: v1/');
    assert.equal(issuesOf(yaml).length, 2, 'schema errors come together');
    const semantic =
      BASE.replace('127.0.0.1:8080', '0.0.0.0:8080') + siteYaml('api', '[api.example.com]', ROUTE);
    assert.equal(issuesOf(semantic).length, 3, 'wildcard + duplicate name + duplicate host');
  });

  it('accepts wildcard listeners with --allow-wildcard-bind', () => {
    assert.deepEqual(issuesOf(BASE.replace('127.0.0.1:8080', '0.0.0.0:8080'), true), []);
  });

  it('accepts an empty admin socket (disabled)', () => {
    assert.equal(check(`${BASE}admin:\n  socket: ''\n`).admin.socket, '');
  });

  it('rejects an alias bomb quickly, as a parse error', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    assert.throws(
      () => check(levels.join('\n')),
      (err: unknown) =>
        err instanceof ProxyError && err.code === 'ERR_CONFIG_PARSE' && /alias/i.test(err.message),
    );
  });

  it('rejects duplicate YAML keys with their line', () => {
    assert.throws(
      () => check(`${BASE}listeners: []\n`),
      (err: unknown) =>
        err instanceof ProxyError &&
        err.code === 'ERR_CONFIG_PARSE' &&
        /unique.*line 9/.test(err.message),
    );
  });

  it('rejects malformed YAML with its line', () => {
    assert.throws(
      () => check('listeners: [\n  - a\n'),
      (err: unknown) =>
        err instanceof ProxyError && err.code === 'ERR_CONFIG_PARSE' && /line \d/.test(err.message),
    );
  });
});

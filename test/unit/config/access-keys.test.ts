import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError } from '../../../src/errors.ts';

/** A site with the given limit keys on itself and on its route (YAML, indented for each). */
const config = (siteKeys: string, routeKeys = '') => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
${siteKeys
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => `    ${l}`)
  .join('\n')}
    routes:
      - path: /v1/
        upstream: http://127.0.0.1:9001
${routeKeys
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => `        ${l}`)
  .join('\n')}
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

describe('access, rate_limit and max_body_bytes keys', () => {
  it('accepts the documented shapes on a site and on a route', () => {
    const site = `access: { deny: [10.9.0.0/16], allow: [10.0.0.0/8, 192.168.1.7, "fd00::/8"] }
rate_limit: { requests_per_second: 50, burst: 100, by: client_ip }
max_body_bytes: 10485760`;
    const route = `access:
  forward_auth: { url: "http://auth.internal:9000/check", request_headers: [Authorization], response_headers: [X-User] }
rate_limit: { requests_per_second: 0.5, by: site }
max_body_bytes: 0`;
    assert.deepEqual(issuesOf(config(site, route)), []);
  });

  it('names each bad key with what it must be', () => {
    const found = issuesOf(
      config(
        `access: { deny: [10.9.0.0/33], allow: [not-an-address], colour: red }
rate_limit: { requests_per_second: 0, burst: 0, by: everyone }
max_body_bytes: -1`,
        `access:
  basic_auth: { realm: 'say "hi"', htpasswd_file: relative/htpasswd }
  forward_auth: { url: "ftp://auth", timeout_ms: 0, response_headers: ["bad header"] }`,
      ),
    );
    const expect = [
      /^sites\[0\]\.access\.deny\[0\]: prefix "\/33" must be a number from 0 to 32$/,
      /^sites\[0\]\.access\.allow\[0\]: "not-an-address" is not an IPv4 or IPv6 address/,
      /^sites\[0\]\.access\.colour: is not a known key/,
      /^sites\[0\]\.rate_limit\.requests_per_second: /,
      /^sites\[0\]\.rate_limit\.burst: /,
      /^sites\[0\]\.rate_limit\.by: must be one of client_ip, site/,
      /^sites\[0\]\.max_body_bytes: /,
      /^sites\[0\]\.routes\[0\]\.access\.basic_auth\.realm: must be 1-100 printable ASCII characters, no " or \\/,
      /^sites\[0\]\.routes\[0\]\.access\.basic_auth\.htpasswd_file: must be an absolute path$/,
      /^sites\[0\]\.routes\[0\]\.access\.forward_auth\.url: must be an http\(s\) URL$/,
      /^sites\[0\]\.routes\[0\]\.access\.forward_auth\.timeout_ms: /,
      /^sites\[0\]\.routes\[0\]\.access\.forward_auth\.response_headers\[0\]: must be a header name$/,
    ];
    for (const pattern of expect) {
      assert.ok(
        found.some((line) => pattern.test(line)),
        `${pattern} among:\n${found.join('\n')}`,
      );
    }
  });
});

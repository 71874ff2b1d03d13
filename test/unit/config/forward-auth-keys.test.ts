import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError } from '../../../src/errors.ts';

/** A route with `access.forward_auth` made of the given keys (YAML flow mapping body). */
const withForwardAuth = (keys: string) => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    routes:
      - path: /v1/
        upstream: http://127.0.0.1:9001
        access:
          forward_auth: { ${keys} }
`;

const check = (yaml: string) =>
  checkConfigBytes(Buffer.from(yaml), 'test.yaml', { allowWildcardBind: false });

function issuesOf(yaml: string): string[] {
  try {
    check(yaml);
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('access.forward_auth keys', () => {
  it('fills its defaults: 1000 ms, no headers copied either way', () => {
    const config = check(withForwardAuth('url: "http://auth.internal:9000/check?x=1"'));
    assert.deepEqual(config.sites[0]?.routes[0]?.access?.forward_auth, {
      url: 'http://auth.internal:9000/check?x=1',
      timeout_ms: 1000,
      request_headers: [],
      response_headers: [],
    });
  });

  const refused: [string, string, RegExp][] = [
    ['no url', 'timeout_ms: 5', /forward_auth\.url: is required/],
    ['a url that is no http(s) URL', 'url: "ftp://auth/"', /must be an http\(s\) URL/],
    ['credentials in the url', 'url: "http://u:p@auth/"', /must not carry credentials/],
    [
      'a framing header sent to the auth service',
      'url: "http://auth/", request_headers: [Content-Length]',
      /request_headers: "Content-Length" is a framing, hop-by-hop or Host header, never copied/,
    ],
    [
      'Host sent to the auth service',
      'url: "http://auth/", request_headers: [host]',
      /"host" is a framing, hop-by-hop or Host header/,
    ],
    [
      'a hop-by-hop header copied from the auth service',
      'url: "http://auth/", response_headers: [Transfer-Encoding]',
      /response_headers: "Transfer-Encoding" is a framing/,
    ],
    [
      'a header the proxy sets, copied from the auth service',
      'url: "http://auth/", response_headers: [X-Forwarded-For]',
      /response_headers: "X-Forwarded-For" is set by the proxy itself/,
    ],
    [
      'its underscore spelling',
      'url: "http://auth/", response_headers: [X_Request_Id]',
      /"X_Request_Id" is set by the proxy itself/,
    ],
    [
      'a name that is no header name',
      'url: "http://auth/", response_headers: ["X User"]',
      /response_headers\[0\]: must be a header name/,
    ],
  ];
  for (const [what, keys, expected] of refused) {
    it(`refuses ${what}`, () => {
      const issues = issuesOf(withForwardAuth(keys));
      assert.ok(
        issues.some((i) => expected.test(i)),
        `${issues.join('\n')}\ndoes not match ${String(expected)}`,
      );
    });
  }

  it('accepts the documented example', () => {
    const issues = issuesOf(
      withForwardAuth(
        'url: "http://auth.internal:9000/check", timeout_ms: 1000, request_headers: [Authorization, Cookie], response_headers: [X-User, X-Groups]',
      ),
    );
    assert.deepEqual(issues, []);
  });
});

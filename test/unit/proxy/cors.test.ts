import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGate } from '../../../src/access/route-gate.ts';
import { corsSchema } from '../../../src/config/cors-schema.ts';
import type { CorsConfig } from '../../../src/config/types.ts';
import { compileCors } from '../../../src/routing/cors-policy.ts';
import type { CorsPolicy } from '../../../src/routing/cors-policy.ts';
import type { ClientRequest } from '../../../src/proxy/client-side.ts';
import { applyCors, isPreflight, requestOrigin } from '../../../src/proxy/cors.ts';

const policy = (cors: object): CorsPolicy => {
  const { value, error } = corsSchema.validate(cors);
  assert.equal(error, undefined);
  return compileCors(value as CorsConfig, undefined) as CorsPolicy;
};
const APP = policy({ allow_origins: ['https://app.example'], allow_credentials: true });
const req = (rawHeaders: string[], method = 'GET') => ({ method, rawHeaders }) as ClientRequest;

describe('cors', () => {
  it('reads one Origin; two match nothing', () => {
    assert.equal(requestOrigin(['Host', 'a', 'Origin', 'https://x']), 'https://x');
    assert.equal(requestOrigin(['origin', 'https://x', 'ORIGIN', 'https://y']), undefined);
    assert.equal(requestOrigin(['host', 'a']), undefined);
  });

  it('takes only OPTIONS with Origin and Access-Control-Request-Method for a preflight', () => {
    const both = ['Origin', 'https://x', 'Access-Control-Request-Method', 'PUT'];
    assert.equal(isPreflight(req(both, 'OPTIONS')), true);
    assert.equal(isPreflight(req(both, 'GET')), false);
    assert.equal(isPreflight(req(['Origin', 'https://x'], 'OPTIONS')), false);
    assert.equal(isPreflight(req(['Access-Control-Request-Method', 'PUT'], 'OPTIONS')), false);
  });

  it('merges Origin into Vary once, and leaves Vary: * alone', () => {
    const cases: [string | string[] | undefined, string][] = [
      [undefined, 'Origin'],
      ['Accept-Encoding', 'Accept-Encoding, Origin'],
      [['Accept-Encoding', 'Cookie'], 'Accept-Encoding, Cookie, Origin'],
      ['accept-encoding, origin', 'accept-encoding, origin'],
      ['*', '*'],
      ['', 'Origin'],
    ];
    for (const [vary, expected] of cases) {
      const out: Record<string, string | string[]> = vary === undefined ? {} : { vary };
      applyCors(APP, req([]), out);
      assert.equal(out.vary, expected, String(vary));
    }
  });

  it("drops every upstream Access-Control-* header, whatever its case, and adds the route's", () => {
    const out: Record<string, string> = {
      'access-control-allow-origin': '*',
      'Access-Control-Allow-Credentials': 'false',
      'access-control-max-age': '99999',
      'content-type': 'text/plain',
    };
    applyCors(APP, req(['Origin', 'https://app.example']), out);
    assert.deepEqual(out, {
      'content-type': 'text/plain',
      vary: 'Origin',
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-credentials': 'true',
    });
  });

  it('compiles a preflight gate without authentication, keeping lists and limits', () => {
    const access = {
      deny: ['10.0.0.0/8'],
      basic_auth: { realm: 'r', htpasswd_file: '/etc/htpasswd' },
    };
    const limit = { requests_per_second: 5, by: 'client_ip' as const };
    const cfg = corsSchema.validate({ allow_origins: ['https://a.example'] }).value as CorsConfig;
    const full = compileGate('s', '/', {}, { access, rate_limit: limit });
    const gate = compileCors(cfg, full)?.preflightGate;
    assert.equal(gate?.basicAuth, undefined);
    assert.equal(gate?.forwardAuth, undefined);
    assert.equal(gate?.deny, full?.deny);
    assert.equal(gate?.rateLimit, full?.rateLimit, 'the same buckets as the route');
    const onlyAuth = compileGate('s', '/', {}, { access: { basic_auth: access.basic_auth } });
    assert.equal(compileCors(cfg, onlyAuth)?.preflightGate, undefined, 'nothing left to check');
  });
});

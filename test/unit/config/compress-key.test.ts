import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError } from '../../../src/errors.ts';
import { compileRoute } from '../../../src/routing/route.ts';

const withCompress = (value: string) => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    routes:
      - path: /
        upstream: http://127.0.0.1:9000
      - path: /app/
        upstream: http://127.0.0.1:9001
        compress: ${value}
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

describe('compress', () => {
  it('compiles true into the route, and leaves other routes without it', () => {
    const site = check(withCompress('true')).sites[0];
    const [plain, app] = (site?.routes ?? []).map((r) => compileRoute('api', false, r));
    assert.equal(app?.compress, true);
    assert.equal(plain?.compress, false);
    const off = check(withCompress('false')).sites[0]?.routes[1];
    assert.equal(off === undefined ? undefined : compileRoute('api', false, off).compress, false);
  });

  it('refuses compress on a redirect route: the proxy answers it, nothing to compress', () => {
    const yaml = withCompress('true').replace(
      'upstream: http://127.0.0.1:9001',
      'redirect: { status: 308, host: www.example.com }',
    );
    assert.deepEqual(issuesOf(yaml), [
      'sites[0].routes[1]: has "redirect" and "compress": a redirect route has no upstream',
    ]);
  });

  for (const bad of ['"yes"', '1', '{ level: 9 }', '[gzip]']) {
    it(`refuses compress: ${bad}, naming the route`, () => {
      const issues = issuesOf(withCompress(bad));
      assert.equal(issues.length, 1, issues.join('\n'));
      assert.match(issues[0] ?? '', /^sites\[0\]\.routes\[1\]\.compress: must be true or false$/);
    });
  }
});

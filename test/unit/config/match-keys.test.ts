import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigBytes } from '../../../src/config/check.ts';
import { ConfigInvalidError } from '../../../src/errors.ts';

/** A site whose routes (YAML list items) the test supplies. */
const withRoutes = (routes: string) => `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: api
    hosts: [api.example.com]
    routes:
${routes
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;

function issuesOf(routes: string): string[] {
  try {
    checkConfigBytes(Buffer.from(withRoutes(routes)), 'test.yaml', { allowWildcardBind: false });
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

const up = '  upstream: http://127.0.0.1:1';

describe('matching and rewriting keys: validate names what is wrong', () => {
  const refused: [string, string, RegExp][] = [
    [
      'a backreference',
      `- path: '^/(a+)\\1$'\n  path_match: regex\n${up}`,
      /^sites\[0\]\.routes\[0\]\.path: cannot run in linear time \(no backreferences/,
    ],
    [
      'a lookahead',
      `- path: '^/(?!admin)'\n  path_match: regex\n${up}`,
      /routes\[0\]\.path: cannot run in linear time/,
    ],
    [
      'a counted repetition too large for the automaton',
      `- path: '^/(?:[a-z]{1,1000}){1,100}$'\n  path_match: regex\n${up}`,
      /routes\[0\]\.path: cannot run in linear time/,
    ],
    [
      'a pattern that does not compile',
      `- path: '^/(a$'\n  path_match: regex\n${up}`,
      /routes\[0\]\.path: is not a valid regular expression \(Unterminated group\): "\^\/\(a\$"/,
    ],
    [
      'a pattern that would close the anchoring group',
      `- path: 'a)|(b'\n  path_match: regex\n${up}`,
      /routes\[0\]\.path: is not a valid regular expression/,
    ],
    [
      'a rewrite that uses a group the pattern lacks',
      `- path: '^/u/([0-9]+)$'\n  path_match: regex\n  rewrite: { path: '/x/$2' }\n${up}`,
      /^sites\[0\]\.routes\[0\]: rewrite\.path uses \$2, but the pattern captures 1 group$/,
    ],
    [
      'captures on a prefix route',
      `- path: /u/\n  rewrite: { path: '/x/$1' }\n${up}`,
      /routes\[0\]: rewrite\.path uses \$1, but only a regex route's pattern has groups/,
    ],
    [
      'a stray $ in a template',
      `- path: /u/\n  rewrite: { path: '/x/$a' }\n${up}`,
      /routes\[0\]: rewrite\.path has a "\$" that is not "\$0"\.\."\$9" or "\$\$"/,
    ],
    [
      'a rewrite the normal form refuses',
      `- path: /u/\n  rewrite: { path: '/x/../y' }\n${up}`,
      /routes\[0\]: rewrite\.path "\/x\/\.\.\/y" is refused by the path normal form/,
    ],
    [
      'a query string in a rewrite',
      `- path: /u/\n  rewrite: { path: '/x?y=1' }\n${up}`,
      /routes\[0\]\.rewrite\.path: is a path only: the query string is always kept/,
    ],
    [
      'an unknown match kind',
      `- path: /u/\n  path_match: fuzzy\n${up}`,
      /routes\[0\]\.path_match: must be one of prefix, exact, regex/,
    ],
    [
      'a lowercase method',
      `- path: /u/\n  methods: [get]\n${up}`,
      /routes\[0\]\.methods\[0\]: "get": methods are case-sensitive, write "GET"/,
    ],
    [
      'TRACE',
      `- path: /u/\n  methods: [TRACE]\n${up}`,
      /methods\[0\]: TRACE is refused before routing/,
    ],
    [
      'a method listed twice',
      `- path: /u/\n  methods: [GET, GET]\n${up}`,
      /methods\[1\]: lists GET twice/,
    ],
    [
      'a Host condition',
      `- path: /u/\n  headers: { Host: a }\n${up}`,
      /routes\[0\]\.headers: "Host" is matched by the site's hosts/,
    ],
    [
      'a header named twice',
      `- path: /u/\n  headers: { X-A: '1', x-a: '2' }\n${up}`,
      /routes\[0\]\.headers: "x-a" is listed twice \(names ignore case\)/,
    ],
    [
      'a bad header name',
      `- path: /u/\n  headers: { 'X A': '1' }\n${up}`,
      /routes\[0\]\.headers: "X A" is not a header name/,
    ],
    ['an empty query name', `- path: /u/\n  query: { '': '1' }\n${up}`, /routes\[0\]\.query/],
    [
      'a redirect status',
      `- path: /u/\n  redirect: { status: 200 }`,
      /routes\[0\]\.redirect\.status: must be one of 301, 302, 303, 307, 308/,
    ],
    [
      'a redirect scheme',
      `- path: /u/\n  redirect: { scheme: ftp }`,
      /routes\[0\]\.redirect\.scheme: must be one of http, https/,
    ],
    [
      'a redirect host with a scheme',
      `- path: /u/\n  redirect: { host: 'http://x' }`,
      /routes\[0\]\.redirect\.host: must be a host name/,
    ],
    [
      'a redirect port',
      `- path: /u/\n  redirect: { port: 70000 }`,
      /routes\[0\]\.redirect\.port: must be a whole number from 1 to 65535/,
    ],
    [
      'a redirect with an upstream',
      `- path: /u/\n  redirect: { status: 308 }\n${up}`,
      /^sites\[0\]\.routes\[0\]: has \[upstream, redirect\]: use one/,
    ],
    [
      'a redirect with upstream-only keys',
      `- path: /u/\n  redirect: { status: 301 }\n  strip_prefix: true\n  retries: { attempts: 1 }`,
      /routes\[0\]: has "redirect" and "strip_prefix", "retries": a redirect route has no upstream/,
    ],
    [
      'strip_prefix on an exact route',
      `- path: /u\n  path_match: exact\n  strip_prefix: true\n${up}`,
      /routes\[0\]: strip_prefix is for prefix routes: an exact route uses rewrite\.path/,
    ],
    [
      'strip_prefix and rewrite',
      `- path: /u/\n  strip_prefix: true\n  rewrite: { path: /x/ }\n${up}`,
      /routes\[0\]: has both strip_prefix and rewrite/,
    ],
    [
      'cors on a route whose methods leave out OPTIONS',
      `- path: /u/\n  methods: [GET]\n  cors: { allow_origins: ['https://a.example'] }\n${up}`,
      /routes\[0\]: has cors and methods without OPTIONS: browsers' preflights \(OPTIONS\) would not reach this route/,
    ],
    [
      'the same route twice',
      `- path: /u/\n  methods: [GET, HEAD]\n${up}\n- path: /u/\n  methods: [HEAD, GET]\n${up}`,
      /^sites\[0\]\.routes\[1\]\.path: "\/u\/ \[GET,HEAD\]" is already routed by routes\[0\]/,
    ],
  ];
  for (const [name, routes, expected] of refused) {
    it(`refuses ${name}`, () => {
      const issues = issuesOf(routes);
      assert.ok(
        issues.some((i) => expected.test(i)),
        `expected ${expected} in:\n${issues.join('\n')}`,
      );
    });
  }

  it('accepts a canary pair, an exact and a regex route on one path, and a bare redirect', () => {
    const routes = [
      `- path: /u/\n${up}`,
      `- path: /u/\n  headers: { X-Canary: 1 }\n${up}`,
      `- path: /u/\n  path_match: exact\n${up}`,
      `- path: /u/\n  path_match: regex\n${up}`,
      `- path: /old/\n  redirect: {}`,
    ];
    assert.deepEqual(issuesOf(routes.join('\n')), []);
  });
});

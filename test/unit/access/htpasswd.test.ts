import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashSync } from 'bcryptjs';
import { parseHtpasswd } from '../../../src/access/htpasswd.ts';

// Cost 4, the lowest: a test hashes in a millisecond.
const B = hashSync('secret', 4); // $2b$04$...
const Y = `$2y$${B.slice(4)}`;
const A = `$2a$${B.slice(4)}`;

function users(text: string): [string, string][] {
  const parsed = parseHtpasswd(text);
  assert.ok('users' in parsed, `parses: ${JSON.stringify(parsed)}`);
  return [...parsed.users];
}

function problems(text: string): readonly string[] {
  const parsed = parseHtpasswd(text);
  assert.ok('problems' in parsed, 'refused');
  return parsed.problems;
}

describe('parseHtpasswd', () => {
  it('reads bcrypt entries of each prefix, and skips blank lines and # comments', () => {
    const cases: [string, string, [string, string][]][] = [
      ['$2y$ (htpasswd -B)', `alice:${Y}\n`, [['alice', Y]]],
      ['$2b$', `alice:${B}`, [['alice', B]]],
      ['$2a$', `alice:${A}`, [['alice', A]]],
      ['comments and blank lines', `# users\n\n  # indented\nalice:${Y}\n\n`, [['alice', Y]]],
      [
        'CRLF line ends and trailing blanks',
        `alice:${Y}\r\nbob:${B} \t\r\n`,
        [
          ['alice', Y],
          ['bob', B],
        ],
      ],
      ['a UTF-8 byte order mark', `\uFEFFalice:${Y}`, [['alice', Y]]],
      ['a name with spaces and UTF-8 inside', `José Núñez:${Y}`, [['José Núñez', Y]]],
      ['an empty file: nobody', '', []],
      ['only comments: nobody', '# nobody yet\n', []],
    ];
    for (const [what, text, expected] of cases) assert.deepEqual(users(text), expected, what);
  });

  it('refuses every other kind of hash, naming the line, the user and the kind', () => {
    const cases: [string, string][] = [
      ['$apr1$xyz$0123456789abcdefghijk', '$apr1$ (MD5)'],
      ['$1$salt$0123456789abcdefghijkl', '$1$ (MD5-crypt)'],
      ['{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', '{SHA} (SHA-1)'],
      ['{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9gxyz', '{SSHA} (salted SHA-1)'],
      ['$5$rounds=5000$salt$abcdefghijklmnop', '$5$ (SHA-256-crypt)'],
      ['$6$salt$abcdefghijklmnopqrstuvwxyz', '$6$ (SHA-512-crypt)'],
      [`$2x$${B.slice(4)}`, '$2x$ (bcrypt with the pre-2011 sign bug)'],
      ['$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 'argon2 (not an htpasswd scheme)'],
      ['rOkfGm1nZ3mhA', 'crypt (DES)'],
      ['password123', 'plain text or an unknown scheme'],
    ];
    for (const [hash, kind] of cases) {
      const found = problems(`# header\nalice:${Y}\nbob:${hash}\n`);
      assert.deepEqual(
        found,
        [`line 3: user "bob" uses ${kind}: only bcrypt ($2y$, $2b$, $2a$) is accepted`],
        kind,
      );
      assert.ok(!found.join('\n').includes(hash), `${kind}: the hash is never quoted`);
    }
  });

  it('refuses lines that are no entry, malformed bcrypt, a cost out of range and a user twice', () => {
    const cases: [string, string][] = [
      ['justaword', 'line 1: not "user:hash"'],
      [`:${Y}`, 'line 1: no user name before ":"'],
      ['alice:', 'line 1: user "alice" has no password hash'],
      [` alice:${Y}`, 'line 1: user " alice" has spaces around the name'],
      [`al\u0007ice:${Y}`, 'line 1: user "al\\u0007ice" has a control character'],
      [
        `alice:${Y.slice(0, -1)}`,
        'line 1: user "alice": malformed bcrypt hash (expected $2y$NN$ and 53 characters)',
      ],
      [
        `alice:${Y.slice(0, -1)}!`,
        'line 1: user "alice": malformed bcrypt hash (expected $2y$NN$ and 53 characters)',
      ],
      [
        `alice:$2y$18$${Y.slice(7)}`,
        'line 1: user "alice": bcrypt cost 18 is over 17 (each step doubles the time of every login)',
      ],
      [`alice:$2y$03$${Y.slice(7)}`, 'line 1: user "alice": bcrypt cost 3 is under 4'],
      [`alice:${Y}\nalice:${B}`, 'line 2: user "alice" appears again (first on line 1)'],
    ];
    for (const [text, message] of cases) assert.deepEqual(problems(text), [message], text);
  });

  it('lists every wrong line, up to ten, then how many more', () => {
    const text = Array.from({ length: 13 }, (_, i) => `u${i}:$apr1$x$y`).join('\n');
    const found = problems(text);
    assert.equal(found.length, 11);
    assert.match(found[0] as string, /^line 1: user "u0" uses \$apr1\$ \(MD5\)/);
    assert.match(found[9] as string, /^line 10: /);
    assert.equal(found[10], '(and 3 more wrong line(s))');
  });
});

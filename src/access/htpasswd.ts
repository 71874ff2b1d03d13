/**
 * The htpasswd format of `access.basic_auth` (Apache's `htpasswd -B`): one `user:hash` a line,
 * blank lines and `#` comments allowed, and bcrypt hashes only. Pure: the caller reads the file.
 */

/** What a parse found: the users and their hashes, or the lines that are wrong. */
export type HtpasswdParse =
  { readonly users: ReadonlyMap<string, string> } | { readonly problems: readonly string[] };

/** Apache's `htpasswd -C` range. Each step doubles every login's CPU; 18 would be ~20 s in JS. */
export const MIN_COST = 4;
export const MAX_COST = 17;

/** Problems listed per file; a file of 10,000 MD5 lines says so in a few lines, not 10,000. */
const MAX_PROBLEMS = 10;

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const ONLY_BCRYPT = 'only bcrypt ($2y$, $2b$, $2a$) is accepted';

/**
 * The other kinds an htpasswd file may hold, named so the operator knows what to regenerate.
 * Why they are refused: docs/security-model.md, "Basic authentication".
 */
const OTHER_KINDS: readonly (readonly [RegExp, string])[] = [
  [/^\$apr1\$/, '$apr1$ (MD5)'],
  [/^\$1\$/, '$1$ (MD5-crypt)'],
  [/^\{SHA\}/i, '{SHA} (SHA-1)'],
  [/^\{SSHA\}/i, '{SSHA} (salted SHA-1)'],
  [/^\$5\$/, '$5$ (SHA-256-crypt)'],
  [/^\$6\$/, '$6$ (SHA-512-crypt)'],
  [/^\$2x\$/, '$2x$ (bcrypt with the pre-2011 sign bug)'],
  [/^\$argon2/, 'argon2 (not an htpasswd scheme)'],
  [/^[./0-9A-Za-z]{13}$/, 'crypt (DES)'],
];

/**
 * Parses an htpasswd file's text. Never quotes a hash or a line in a problem (a "hash" that is
 * a plain password must not reach a log): it names the line, the user and the kind of hash.
 */
export function parseHtpasswd(text: string): HtpasswdParse {
  const users = new Map<string, string>();
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  let extra = 0;
  const problem = (message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(message);
    else extra++;
  };
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.replace(/[\r\t ]+$/, '');
    const trimmed = line.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon === -1) return problem(`line ${n}: not "user:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const who = `line ${n}: user ${JSON.stringify(user)}`;
    if (user === '') return problem(`line ${n}: no user name before ":"`);
    if (user !== user.trim()) return problem(`${who} has spaces around the name`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(user)) return problem(`${who} has a control character`);
    const first = firstLine.get(user);
    if (first !== undefined) return problem(`${who} appears again (first on line ${first})`);
    firstLine.set(user, n);
    if (hash === '') return problem(`${who} has no password hash`);
    const match = BCRYPT.exec(hash);
    if (match === null) {
      if (/^\$2[aby]\$/.test(hash)) {
        return problem(`${who}: malformed bcrypt hash (expected $2y$NN$ and 53 characters)`);
      }
      return problem(`${who} uses ${kindOf(hash)}: ${ONLY_BCRYPT}`);
    }
    const cost = Number(match[1]);
    if (cost > MAX_COST) {
      return problem(
        `${who}: bcrypt cost ${cost} is over ${MAX_COST} (each step doubles the time of every login)`,
      );
    }
    if (cost < MIN_COST) return problem(`${who}: bcrypt cost ${cost} is under ${MIN_COST}`);
    users.set(user, hash);
  });
  if (extra > 0) problems.push(`(and ${extra} more wrong line(s))`);
  return problems.length > 0 ? { problems } : { users };
}

/** The kind of a hash that is not bcrypt. */
function kindOf(hash: string): string {
  for (const [pattern, name] of OTHER_KINDS) if (pattern.test(hash)) return name;
  return 'plain text or an unknown scheme';
}

/** A hash's bcrypt cost (`$2y$10$...`: 10). */
export function costOf(hash: string): number {
  return Number(hash.slice(4, 6));
}

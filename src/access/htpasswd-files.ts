import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigInvalidError, formatIssue } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import type { LimitsConfig, ProxyConfig } from '../config/types.ts';
import { costOf, parseHtpasswd } from './htpasswd.ts';

/** One htpasswd file as a snapshot holds it. */
export interface HtpasswdFile {
  readonly path: string;
  /** sha256 of its bytes: unchanged bytes keep this object across reloads; the login cache keys on it. */
  readonly sha256: string;
  /** User name to bcrypt hash. */
  readonly users: ReadonlyMap<string, string>;
  /**
   * A bcrypt hash nobody's password matches, at the cost most of the file's entries use: an
   * unknown user is compared against it, so a wrong name costs what a wrong password does.
   */
  readonly dummy: string;
}

/** The htpasswd files of one config, by path, and what a reload had to keep from before. */
export interface HtpasswdSet {
  readonly files: ReadonlyMap<string, HtpasswdFile>;
  /** Files that broke on a reload and keep their previous users (docs/config.md). */
  readonly warnings: readonly ConfigIssue[];
}

export const EMPTY_HTPASSWD: HtpasswdSet = Object.freeze({
  files: new Map<string, HtpasswdFile>(),
  warnings: Object.freeze([]),
});

/** 4 MiB: some 55,000 bcrypt entries. A bigger file is a mistake, or hostile. */
export const MAX_HTPASSWD_BYTES = 4 * 1024 * 1024;

/**
 * Reads and checks every `access.basic_auth.htpasswd_file` of a config: the one code path of
 * `validate`, `serve`, every reload and the sidecar, as for certificates. A file is read once
 * however many sites and routes name it. The policy (docs/config.md, "access.basic_auth"):
 * - any problem (unreadable, too large, not UTF-8, a line that is not a bcrypt entry) fails
 *   the load, naming the config path of its first use, the file and the line;
 * - except on a reload, for a file that `previous` holds (same path): its users loaded before
 *   stay in force, with a warning. A file new to this reload is judged as at start.
 * Files whose bytes did not change since `previous` keep their object (and their dummy hash).
 */
export function loadHtpasswdFiles(
  config: ProxyConfig,
  previous: HtpasswdSet = EMPTY_HTPASSWD,
): HtpasswdSet {
  const files = new Map<string, HtpasswdFile>();
  const warnings: ConfigIssue[] = [];
  const fatal: ConfigIssue[] = [];
  for (const [path, at] of htpasswdReferences(config)) {
    const loaded = loadFile(path, previous.files.get(path));
    if ('file' in loaded) {
      files.set(path, loaded.file);
      continue;
    }
    const before = previous.files.get(path);
    if (before !== undefined) {
      files.set(path, before);
      const [first = '', ...rest] = loaded.problems;
      const more = rest.length === 0 ? '' : ` (and ${rest.length} more problem(s))`;
      warnings.push({
        path: at,
        message: `${first}${more}; the users loaded before from this file stay in force`,
      });
    } else {
      for (const message of loaded.problems) fatal.push({ path: at, message });
    }
  }
  if (fatal.length > 0) throw new ConfigInvalidError(fatal);
  return Object.freeze({ files, warnings: Object.freeze(warnings) });
}

/** Same files, same bytes, same problems: nothing for a reload to swap. */
export function sameHtpasswd(a: HtpasswdSet, b: HtpasswdSet): boolean {
  if (a.files.size !== b.files.size || a.warnings.length !== b.warnings.length) return false;
  for (const [path, file] of a.files) if (b.files.get(path) !== file) return false;
  return a.warnings.every((w, i) => formatIssue(w) === formatIssue(b.warnings[i] as ConfigIssue));
}

/** Each htpasswd file the config names, with the config path of its first use. */
export function htpasswdReferences(config: ProxyConfig): Map<string, string> {
  const refs = new Map<string, string>();
  const note = (limits: LimitsConfig, at: string) => {
    const file = limits.access?.basic_auth?.htpasswd_file;
    if (file !== undefined && !refs.has(file)) {
      refs.set(file, `${at}.access.basic_auth.htpasswd_file`);
    }
  };
  config.sites.forEach((site, i) => {
    note(site, `sites[${i}]`);
    site.routes.forEach((route, j) => note(route, `sites[${i}].routes[${j}]`));
  });
  return refs;
}

type FileResult = { file: HtpasswdFile } | { problems: readonly string[] };

function loadFile(path: string, before: HtpasswdFile | undefined): FileResult {
  let bytes: Buffer;
  try {
    const size = statSync(path).size;
    if (size > MAX_HTPASSWD_BYTES) {
      return { problems: [`${path} is ${size} bytes, over the ${MAX_HTPASSWD_BYTES}-byte limit`] };
    }
    bytes = readFileSync(path);
  } catch (err) {
    return {
      problems: [`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`],
    };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (before !== undefined && before.sha256 === sha256) return { file: before };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { problems: [`${path} is not valid UTF-8`] };
  }
  const parsed = parseHtpasswd(text);
  if ('problems' in parsed) return { problems: parsed.problems.map((p) => `${path} ${p}`) };
  return {
    file: Object.freeze({
      path,
      sha256,
      users: parsed.users,
      dummy: dummyHash(usualCost(parsed.users)),
    }),
  };
}

/** The cost most entries use (the higher on a tie); 10 for a file without users. */
function usualCost(users: ReadonlyMap<string, string>): number {
  const counts = new Map<number, number>();
  for (const hash of users.values()) {
    const cost = costOf(hash);
    counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best = 10;
  let most = 0;
  for (const [cost, n] of counts) {
    if (n > most || (n === most && cost > best)) [best, most] = [cost, n];
  }
  return best;
}

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A well-formed bcrypt hash of random salt and digest: comparing against it costs a real check. */
export function dummyHash(cost: number): string {
  const digits = [...randomBytes(53)].map((b) => BCRYPT_ALPHABET[b & 63]).join('');
  return `$2b$${String(cost).padStart(2, '0')}$${digits}`;
}

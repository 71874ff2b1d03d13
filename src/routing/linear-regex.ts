import { setFlagsFromString } from 'node:v8';

/**
 * Route regexes run in V8's linear-time engine (the `l` flag): an automaton simulation with no
 * backtracking, so matching costs at most (pattern size x path length) whatever the pattern
 * and the path. A pattern the engine cannot run that way (backreferences, lookaround, large
 * counted repetitions) does not compile, and `validate` refuses it.
 *
 * Why this engine and not a JavaScript port of RE2 (re2js): on a 2 KB GET the proxy spends
 * ~40 µs a request; re2js took 8.2 µs to match one route and 12 µs to reject 19, V8's linear
 * mode 0.7 µs and 5 µs (measured on Node 24.21, see docs/config.md "Regex routes"). Native
 * RE2 bindings need a compiler or a download at install time. V8's engine is behind a flag
 * that can be set at run time: it only adds the `l` flag to RegExp and changes nothing else.
 */
setFlagsFromString('--enable-experimental-regexp-engine');

/** The linear-time engine's flag; a variable, since linters do not know it. */
const LINEAR: string = 'l';

/** The longest accepted pattern: keeps the automaton (and the per-byte cost) small. */
export const MAX_PATTERN_LENGTH = 1_024;

export interface LinearRegex {
  /** Anchored at both ends: it matches the whole path or nothing. */
  readonly regex: RegExp;
  /** Capture groups the pattern has ($1..$n in a rewrite). */
  readonly groups: number;
  /**
   * A literal every matching path starts with ('' when none is known): a path without it is
   * rejected by one startsWith, without running the automaton.
   */
  readonly prefix: string;
  /** The same for the end of every matching path. */
  readonly suffix: string;
}

/** Compiles a route pattern; throws an Error whose message says why the engine refuses it. */
export function compileLinearRegex(pattern: string): LinearRegex {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new Error(`is longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  let regex: RegExp;
  let empty: RegExp;
  try {
    // Alone first: a pattern such as `a)|(b` must not close the anchoring group below.
    new RegExp(pattern, LINEAR);
    regex = new RegExp(`^(?:${pattern})$`, LINEAR);
    // The same pattern with an empty alternative matches '' and reports every group.
    empty = new RegExp(`(?:${pattern})|`, LINEAR);
  } catch (err) {
    throw new Error(engineMessage(pattern, (err as Error).message), { cause: err });
  }
  const groups = (empty.exec('') as RegExpExecArray).length - 1;
  return Object.freeze({
    regex,
    groups,
    prefix: literalPrefix(pattern),
    suffix: literalSuffix(pattern),
  });
}

function engineMessage(pattern: string, message: string): string {
  if (/linear time/i.test(message)) {
    return (
      'cannot run in linear time (no backreferences, lookahead or large counted ' +
      'repetitions such as x{1,1000}): rewrite the pattern'
    );
  }
  if (/Invalid flags/i.test(message)) {
    return 'cannot be compiled: this Node has no linear-time regex engine (Node 24 is required)';
  }
  // V8's message repeats the pattern with our anchors around it: keep only the reason.
  const reason = message.replace(/^Invalid regular expression: \/.*\/l: /, '');
  return `is not a valid regular expression (${reason}): ${JSON.stringify(pattern)}`;
}

const META = new Set([...'\\^$.|?*+()[]{}']);
const QUANTIFIER = new Set([...'?*{']);

/**
 * The literal start of a pattern, conservatively: characters up to the first metacharacter,
 * minus the last one when a quantifier that allows zero follows it (`/users?` -> `/user`).
 * Any `|` in the pattern could make an alternative that starts elsewhere: no prefix then.
 */
export function literalPrefix(pattern: string): string {
  if (pattern.includes('|')) return '';
  let i = pattern.startsWith('^') ? 1 : 0;
  let prefix = '';
  for (; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (META.has(c)) {
      if (QUANTIFIER.has(c) && prefix.length > 0) prefix = prefix.slice(0, -1);
      break;
    }
    prefix += c;
  }
  return prefix;
}

/**
 * The literal end of a pattern, conservatively: the characters after the last metacharacter,
 * before a final `$` (the pattern is anchored at the end anyway). Any `|` means none, as for
 * the prefix.
 */
export function literalSuffix(pattern: string): string {
  if (pattern.includes('|')) return '';
  let end = pattern.length;
  if (pattern.endsWith('$') && pattern[end - 2] !== '\\') end--;
  let start = end;
  while (start > 0 && !META.has(pattern[start - 1] as string)) start--;
  // Characters after a backslash may be an escape's argument (`\x41`, `\u0041`): the literal
  // starts only well past the last backslash (the longest such escape is 6 characters).
  const escape = pattern.lastIndexOf('\\', end - 1);
  if (escape !== -1) start = Math.max(start, escape + 8);
  return start >= end ? '' : pattern.slice(start, end);
}

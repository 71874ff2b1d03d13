import type { LinearRegex } from './linear-regex.ts';
import { normalizePath } from './request-path.ts';

export type PathMatch = 'prefix' | 'exact' | 'regex';

/**
 * A new path for a matched request path, the one rule behind `rewrite.path` (what goes
 * upstream) and `redirect.path` (what the client is sent to), after Gateway API's
 * ReplacePrefixMatch and ReplaceFullPath:
 *
 * - a prefix route replaces the part of the path it matched and keeps the rest
 *   (`/old/` -> `/new/`: `/old/a/b` is `/new/a/b`);
 * - an exact route replaces the whole path;
 * - a regex route replaces the whole path with the template, `$1`..`$9` standing for the
 *   groups the pattern captured and `$0` for the whole path (`$$` is a `$`).
 *
 * The result is normalised as a client's path is; undefined when the normal form refuses it
 * (a capture that made a `.` or `..` segment), which the caller answers with 400.
 */
export interface PathReplacement {
  apply(path: string): string | undefined;
}

/** A template cut into literal text and group numbers. */
type Piece = string | number;

/** Throws an Error naming what is wrong with the template. */
export function parseTemplate(template: string, groups: number): readonly Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i] as string;
    if (c !== '$') {
      text += c;
      continue;
    }
    const next = template[i + 1];
    i++;
    if (next === '$') {
      text += '$';
      continue;
    }
    if (next === undefined || next < '0' || next > '9') {
      throw new Error('has a "$" that is not "$0".."$9" or "$$"');
    }
    const group = Number(next);
    if (group > groups) {
      throw new Error(
        groups === 0
          ? `uses $${group}, but only a regex route's pattern has groups to capture`
          : `uses $${group}, but the pattern captures ${groups} group${groups === 1 ? '' : 's'}`,
      );
    }
    if (text !== '') pieces.push(text);
    text = '';
    pieces.push(group);
  }
  if (text !== '') pieces.push(text);
  return Object.freeze(pieces);
}

export function compileReplacement(
  match: PathMatch,
  routePath: string,
  template: string,
  regex: LinearRegex | undefined,
): PathReplacement {
  if (match === 'regex') {
    const pieces = parseTemplate(template, regex?.groups ?? 0);
    // No group in the template: the same path for every request, normalised once.
    if (pieces.every((piece) => typeof piece === 'string')) return constant(pieces.join(''));
    const pattern = (regex as LinearRegex).regex;
    return {
      apply(path) {
        const found = pattern.exec(path);
        if (found === null) return undefined;
        let out = '';
        for (const piece of pieces) out += typeof piece === 'string' ? piece : (found[piece] ?? '');
        return normalizePath(out);
      },
    };
  }
  parseTemplate(template, 0);
  const literal = template.replaceAll('$$', '$');
  if (match === 'exact') return constant(literal);
  const cut = routePath.endsWith('/') ? routePath.length - 1 : routePath.length;
  const base = literal.endsWith('/') ? literal.slice(0, -1) : literal;
  return {
    apply(path) {
      const rest = path.slice(cut);
      if (rest === '') return normalizePath(literal);
      return normalizePath(rest.charCodeAt(0) === 47 /* / */ ? base + rest : `${base}/${rest}`);
    },
  };
}

function constant(path: string): PathReplacement {
  const normal = normalizePath(path);
  return { apply: () => normal };
}

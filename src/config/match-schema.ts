import Joi from 'joi';
import type { CustomHelpers } from 'joi';
import { LIMITS } from './limits.ts';
import { compileLinearRegex } from '../routing/linear-regex.ts';
import { parseTemplate } from '../routing/path-replacement.ts';
import { normalizePath } from '../routing/request-path.ts';

/**
 * The keys that choose a route and reshape its request (DESIGN.md "Version 3"): `path_match`,
 * `methods`, `headers`, `query`, `rewrite` and `redirect`. The route schema checks how they
 * combine (checkMatchKeys); the rules here are each key's own.
 */

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, obs-text, spaces and tabs; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_CONDITIONS = 16;

export const pathMatchSchema = Joi.string().valid('prefix', 'exact', 'regex').default('prefix');

/** A regex route's path: a pattern the linear-time engine takes. */
export function regexPath(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  try {
    compileLinearRegex(value);
  } catch (err) {
    // Passed as context, not as the template: a pattern's own braces are not Joi's.
    return helpers.message({ custom: '{#why}' }, { why: (err as Error).message });
  }
  return value;
}

export const methodsSchema = Joi.array()
  .items(
    Joi.string()
      .pattern(TOKEN)
      .max(32)
      .custom((method: string, helpers) => {
        if (method !== method.toUpperCase()) {
          return helpers.message({
            custom: `"${method}": methods are case-sensitive, write "${method.toUpperCase()}"`,
          });
        }
        if (method === 'TRACE' || method === 'CONNECT') {
          return helpers.message({ custom: `${method} is refused before routing (405)` });
        }
        return method;
      })
      .messages({ 'string.pattern.base': 'must be a method name such as GET' }),
  )
  .min(1)
  .max(MAX_CONDITIONS)
  .unique()
  .messages({ 'array.unique': 'lists {{#dupeValue}} twice' });

const exactValue = Joi.alternatives(Joi.string().max(1_024), Joi.number()).custom(
  (v: string | number) => String(v),
);

export const conditionHeadersSchema = Joi.object()
  .pattern(Joi.string().max(100), exactValue)
  .max(MAX_CONDITIONS)
  .custom((value: Record<string, string>, helpers) => {
    const seen = new Set<string>();
    for (const [name, text] of Object.entries(value)) {
      const lower = name.toLowerCase();
      if (!TOKEN.test(name)) return helpers.message({ custom: `"${name}" is not a header name` });
      if (lower === 'host') {
        return helpers.message({ custom: '"Host" is matched by the site\'s hosts, not here' });
      }
      if (seen.has(lower)) {
        return helpers.message({ custom: `"${name}" is listed twice (names ignore case)` });
      }
      seen.add(lower);
      if (!FIELD_VALUE.test(text)) {
        return helpers.message({ custom: `"${name}": a value must hold no CR, LF or NUL` });
      }
    }
    return value;
  });

export const querySchema = Joi.object()
  .pattern(Joi.string().min(1).max(256), exactValue)
  .max(MAX_CONDITIONS);

/** A path template: `rewrite.path`, `redirect.path`. */
const pathTemplate = Joi.string()
  .max(LIMITS.maxPathLength)
  .pattern(/^\/[\x21-\x7e]*$/)
  .custom((value: string, helpers) => {
    if (/[?#]/.test(value)) {
      return helpers.message({ custom: 'is a path only: the query string is always kept' });
    }
    return value;
  })
  .messages({ 'string.pattern.base': 'must start with "/" and hold only visible ASCII' });

export const rewriteSchema = Joi.object({ path: pathTemplate.required() });

export const redirectSchema = Joi.object({
  status: Joi.number().valid(301, 302, 303, 307, 308).default(302),
  scheme: Joi.string().valid('http', 'https'),
  host: Joi.string()
    .lowercase()
    .max(253)
    .pattern(
      /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
    )
    .messages({ 'string.pattern.base': 'must be a host name (no scheme, port or path)' }),
  port: Joi.number().integer().min(1).max(65_535),
  path: pathTemplate,
});

/** Keys that only mean something for a route with upstreams. */
const UPSTREAM_ONLY = [
  'rewrite',
  'strip_prefix',
  'health_check',
  'request_headers',
  'retries',
  'balance',
  'timeouts',
  'timeout_ms',
  'passive_health',
  'affinity',
  'compress',
] as const;

interface MatchKeys {
  readonly path: string;
  readonly path_match: 'prefix' | 'exact' | 'regex';
  readonly strip_prefix?: boolean;
  readonly rewrite?: { readonly path: string } | undefined;
  readonly redirect?: { readonly path?: string | undefined } | undefined;
  readonly methods?: readonly string[] | undefined;
  readonly cors?: unknown;
}

/**
 * How the keys combine, checked on the raw route (before defaults, so that a key written is
 * told apart from a default): undefined when they fit, else what is wrong.
 */
export function checkMatchKeys(raw: Record<string, unknown>, route: MatchKeys): string | undefined {
  if (route.redirect !== undefined) {
    const extra = UPSTREAM_ONLY.filter((key) => raw[key] !== undefined);
    if (extra.length > 0) {
      return `has "redirect" and ${extra.map((k) => `"${k}"`).join(', ')}: a redirect route has no upstream`;
    }
  }
  if (
    route.cors !== undefined &&
    route.methods !== undefined &&
    !route.methods.includes('OPTIONS')
  ) {
    return "has cors and methods without OPTIONS: browsers' preflights (OPTIONS) would not reach this route; add OPTIONS";
  }
  if (route.strip_prefix === true && route.rewrite !== undefined) {
    return 'has both strip_prefix and rewrite: strip_prefix is rewrite: {path: /}, keep one';
  }
  if (route.strip_prefix === true && route.path_match !== 'prefix') {
    const kind = route.path_match === 'exact' ? 'an exact' : 'a regex';
    return `strip_prefix is for prefix routes: ${kind} route uses rewrite.path`;
  }
  const groups = route.path_match === 'regex' ? compileLinearRegex(route.path).groups : 0;
  for (const [key, template] of [
    ['rewrite.path', route.rewrite?.path],
    ['redirect.path', route.redirect?.path],
  ] as const) {
    if (template === undefined) continue;
    let pieces: ReturnType<typeof parseTemplate>;
    try {
      pieces = parseTemplate(template, groups);
    } catch (err) {
      return `${key} ${(err as Error).message}`;
    }
    const literal = pieces.every((piece) => typeof piece === 'string')
      ? pieces.join('')
      : undefined;
    if (literal !== undefined && normalizePath(literal) === undefined) {
      return `${key} "${literal}" is refused by the path normal form (a "." or ".." segment, or an encoded "/", "\\" or control byte): see "Paths"`;
    }
  }
  return undefined;
}

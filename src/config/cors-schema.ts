import Joi from 'joi';
import type { CustomHelpers } from 'joi';

/**
 * A route's `cors` (DESIGN.md "Version 3"): which browser origins may read its responses. The
 * proxy answers preflights itself and writes the CORS response headers (proxy/cors.ts).
 */

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/**
 * An origin exactly as a browser serialises it in `Origin`: `scheme://host[:port]`, no path,
 * no trailing `/`, the default port left out, an IDN host in its punycode form. Anything else
 * could never match, so it is refused with the form that would.
 */
function origin(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  if (value === '*') return value;
  if (value.toLowerCase() === 'null') {
    // Sandboxed iframes, file: pages and some redirects all send `null`: any site can make a
    // browser send it, so allowing it would allow everyone.
    return helpers.message({ custom: '"null" is never allowed: any page can send it' });
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return helpers.message({ custom: `"${value}" is not an origin (scheme://host[:port])` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return helpers.message({ custom: `"${value}" must be an http(s) origin` });
  }
  if (url.origin !== value.toLowerCase()) {
    return helpers.message({
      custom: `"${value}" is not an origin as browsers send it (no path, no default port): write "${url.origin}"`,
    });
  }
  return value;
}

const token = (what: string) =>
  Joi.string()
    .pattern(TOKEN)
    .messages({ 'string.pattern.base': `must be ${what} (an HTTP token)` });

const list = (what: string) =>
  Joi.array()
    .items(token(what))
    .max(100)
    .unique((a: string, b: string) => a.toLowerCase() === b.toLowerCase())
    .messages({ 'array.unique': 'lists {{#dupeValue}} twice' });

interface CorsInput {
  readonly allow_origins: readonly string[];
  readonly allow_methods: readonly string[];
  readonly allow_headers: readonly string[];
  readonly expose_headers: readonly string[];
  readonly allow_credentials: boolean;
}

/** `*` alone, and never with credentials: browsers refuse `*` on a credentialed response. */
function wildcards(cors: CorsInput, helpers: CustomHelpers): CorsInput | Joi.ErrorReport {
  if (cors.allow_origins.includes('*') && cors.allow_origins.length > 1) {
    return helpers.message({ custom: 'allow_origins: "*" allows every origin: list it alone' });
  }
  if (!cors.allow_credentials) return cors;
  for (const key of [
    'allow_origins',
    'allow_methods',
    'allow_headers',
    'expose_headers',
  ] as const) {
    if (cors[key].includes('*')) {
      return helpers.message({
        custom: `${key}: "*" cannot be used with allow_credentials: true (browsers refuse it, and echoing every origin would let any site read credentialed responses): list the origins`,
      });
    }
  }
  return cors;
}

export const corsSchema = Joi.object({
  allow_origins: Joi.array()
    .items(Joi.string().max(300).custom(origin))
    .min(1)
    .max(1_000)
    .unique((a: string, b: string) => a.toLowerCase() === b.toLowerCase())
    .required()
    .messages({ 'array.unique': 'lists {{#dupeValue}} twice' }),
  // The CORS-safelisted methods: browsers send them without asking anyway.
  allow_methods: list('a method').default(['GET', 'HEAD', 'POST']),
  allow_headers: list('a header name').default([]),
  expose_headers: list('a header name').default([]),
  allow_credentials: Joi.boolean().default(false),
  max_age_s: Joi.number().integer().min(0).max(86_400),
}).custom(wildcards);

import Joi from 'joi';
import type { CustomHelpers } from 'joi';

/**
 * `affinity: { cookie, max_age_s, secure }` on a route: sticky to one upstream of the pool by a
 * cookie the proxy sets (routing/affinity.ts; docs/config.md "Affinity").
 */

/** RFC 6265 §4.1.1: cookie-name is an RFC 2616 token. */
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis §5.6.1); longer would be cut. */
const MAX_AGE_LIMIT_S = 400 * 24 * 3600;

interface AffinityValue {
  readonly cookie: string;
  readonly secure: boolean;
}

/**
 * `__Secure-` and `__Host-` names are refused by browsers without the Secure attribute, which
 * the proxy sets only on TLS connections unless `secure: true`: such a cookie would silently
 * never stick on plain HTTP.
 */
function prefixNeedsSecure(value: AffinityValue, helpers: CustomHelpers) {
  const lower = value.cookie.toLowerCase();
  if ((lower.startsWith('__secure-') || lower.startsWith('__host-')) && !value.secure) {
    return helpers.message({
      custom: `cookie "${value.cookie}": a __Secure- or __Host- name needs "secure: true"`,
    });
  }
  return value;
}

export const affinitySchema = Joi.object({
  cookie: Joi.string().pattern(COOKIE_NAME).required().messages({
    'string.pattern.base': 'must be a cookie name (1-64 token characters, RFC 6265)',
    'string.empty': 'must be a cookie name (1-64 token characters, RFC 6265)',
  }),
  // Absent: a session cookie, gone when the browser closes (ingress-nginx's default too).
  max_age_s: Joi.number().integer().min(1).max(MAX_AGE_LIMIT_S),
  // Absent or false: Secure only when the client reached this proxy over TLS.
  secure: Joi.boolean().default(false),
}).custom(prefixNeedsSecure);

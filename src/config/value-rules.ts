import type Joi from 'joi';
import type { CustomHelpers } from 'joi';
import { parseCidr } from './cidr.ts';

/** Value rules the config schema and the access schema share (joi `custom` validators). */

/** A network or an address: `10.0.0.0/8`, `fd00::/8`, `192.168.1.7`. */
export function cidr(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  const parsed = parseCidr(value);
  return 'error' in parsed ? helpers.message({ custom: parsed.error }) : value;
}

/** A file the proxy reads (certificates, keys, htpasswd): absolute, never cwd-relative. */
export function absoluteFile(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  if (!value.startsWith('/')) return helpers.message({ custom: 'must be an absolute path' });
  if (value.includes('\0')) return helpers.message({ custom: 'must not contain NUL bytes' });
  return value;
}

import Joi from 'joi';
import type { CustomHelpers } from 'joi';
import { parseCidr } from './cidr.ts';

/**
 * The keys of access control and limits (DESIGN.md "Version 3"), the same on a site and on a
 * route; a route's replaces its site's, key by key (`access`, `rate_limit`, `max_body_bytes`).
 */

function cidr(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  const parsed = parseCidr(value);
  return 'error' in parsed ? helpers.message({ custom: parsed.error }) : value;
}

function absoluteFile(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  if (!value.startsWith('/')) return helpers.message({ custom: 'must be an absolute path' });
  if (value.includes('\0')) return helpers.message({ custom: 'must not contain NUL bytes' });
  return value;
}

function httpUrl(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return helpers.message({ custom: 'must be an http(s) URL' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return helpers.message({ custom: 'must be an http(s) URL' });
  }
  if (url.username !== '' || url.password !== '' || url.hash !== '') {
    return helpers.message({ custom: 'must not carry credentials or a fragment' });
  }
  return value;
}

const HEADER_NAME = Joi.string()
  .pattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/)
  .messages({ 'string.pattern.base': 'must be a header name' });

const cidrList = Joi.array().items(Joi.string().custom(cidr)).min(1).max(1_000);

export const accessSchema = Joi.object({
  deny: cidrList,
  allow: cidrList,
  basic_auth: Joi.object({
    realm: Joi.string()
      .pattern(/^[\x20-\x7e]{1,100}$/)
      .pattern(/^[^"\\]*$/)
      .required()
      .messages({ 'string.pattern.base': 'must be 1-100 printable ASCII characters, no " or \\' }),
    htpasswd_file: Joi.string().custom(absoluteFile).required(),
  }),
  forward_auth: Joi.object({
    url: Joi.string().custom(httpUrl).required(),
    timeout_ms: Joi.number().integer().min(1).max(60_000).default(1_000),
    request_headers: Joi.array().items(HEADER_NAME).max(50).default([]),
    response_headers: Joi.array().items(HEADER_NAME).max(50).default([]),
  }),
});

export const rateLimitSchema = Joi.object({
  requests_per_second: Joi.number().positive().max(1_000_000).required(),
  burst: Joi.number().integer().min(1).max(10_000_000),
  by: Joi.string().valid('client_ip', 'site').default('client_ip'),
});

export const maxBodyBytesSchema = Joi.number()
  .integer()
  .min(0)
  .max(1024 ** 4);

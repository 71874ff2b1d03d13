import Joi from 'joi';
import type { CustomHelpers } from 'joi';
import { absoluteFile, cidr } from './value-rules.ts';

/**
 * The keys of access control and limits (DESIGN.md "Version 3"), the same on a site and on a
 * route; a route's replaces its site's, key by key (`access`, `rate_limit`, `max_body_bytes`).
 */

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

/**
 * Headers forward auth may not copy, either way: the framing and hop-by-hop ones (copied, they
 * would change how this hop's message is framed, a smuggling hazard) and Host (each side of the
 * subrequest has its own).
 */
const NOT_COPIED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
  'host',
]);
/** Onto the upstream request, neither the headers the proxy sets itself. */
const SET_BY_PROXY = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-real-ip',
  'x-request-id',
  'traceparent',
  'tracestate',
]);

function copiedHeaders(side: 'request' | 'response') {
  return Joi.array()
    .items(HEADER_NAME)
    .max(50)
    .default([])
    .custom((names: string[], helpers) => {
      for (const name of names) {
        // `_` spelt for `-` too: CGI-style upstreams read both as the same header.
        const lower = name.toLowerCase().replaceAll('_', '-');
        if (NOT_COPIED.has(lower)) {
          return helpers.message({
            custom: `"${name}" is a framing, hop-by-hop or Host header, never copied`,
          });
        }
        if (side === 'response' && SET_BY_PROXY.has(lower)) {
          return helpers.message({
            custom: `"${name}" is set by the proxy itself, never by the auth service`,
          });
        }
      }
      return names;
    });
}

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
    request_headers: copiedHeaders('request'),
    response_headers: copiedHeaders('response'),
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

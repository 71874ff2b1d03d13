import Joi from 'joi';
import type { CustomHelpers } from 'joi';
import { parseListenAddress } from './address.ts';
import { absoluteFile, cidr } from './value-rules.ts';
import { LIMITS } from './limits.ts';
import { routeSchema } from './route-schema.ts';
import { accessSchema, maxBodyBytesSchema, rateLimitSchema } from './access-schema.ts';
import { errorPagesSchema } from '../error-pages/error-page-schema.ts';

/**
 * The config schema and the only home of defaults. Per-value rules live here; rules that
 * compare values with each other (duplicates, wildcard binds) live in validate.ts.
 */

const HOST_LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_PATTERN = new RegExp(`^(?:\\*|(?:\\*\\.)?${HOST_LABEL}(?:\\.${HOST_LABEL})*)$`);

/** What a listen address must look like, for a value that is no string at all (`8080`). */
const LISTEN_ADDRESS_FORM = {
  'string.base': 'must be HOST:PORT such as 127.0.0.1:8080 (quoted in YAML when it is a bare port)',
  'string.empty': 'must be HOST:PORT such as 127.0.0.1:8080',
};

function listenAddress(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  const parsed = parseListenAddress(value);
  return 'error' in parsed ? helpers.message({ custom: parsed.error }) : value;
}

/** Seed W3: absolute, no `..`, fits in sun_path, ends in .sock/.socket; "" disables the socket. */
function socketPath(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  if (value === '') return value;
  const fail = (text: string) => helpers.message({ custom: text });
  if (!value.startsWith('/')) return fail('must be an absolute path');
  if (value.split('/').some((part) => part === '..' || part === '.')) {
    return fail('must not contain "." or ".." components');
  }
  if (value.endsWith('/')) return fail('must name a file, not a directory');
  if (Buffer.byteLength(value) > LIMITS.maxSocketPathBytes) {
    return fail(`must be at most ${LIMITS.maxSocketPathBytes} bytes (the kernel's sun_path limit)`);
  }
  if (!/\.(sock|socket)$/.test(value)) return fail('must end in .sock or .socket');
  if (value.includes('\0')) return fail('must not contain NUL bytes');
  return value;
}

const ms = (min: number, max: number, fallback: number) =>
  Joi.number().integer().min(min).max(max).default(fallback);

const uid = Joi.number().integer().min(0).max(0xfffffffe);

const site = Joi.object({
  name: Joi.string()
    .pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/)
    .required()
    .messages({ 'string.pattern.base': 'must be 1-63 letters, digits, ".", "_" or "-"' }),
  hosts: Joi.array()
    .items(
      Joi.string()
        .lowercase()
        .max(253)
        .pattern(HOST_PATTERN)
        .messages({ 'string.pattern.base': 'must be a host name, "*.domain" or "*"' }),
    )
    .min(1)
    .max(LIMITS.maxHostsPerSite)
    .required(),
  routes: Joi.array().items(routeSchema).min(1).max(LIMITS.maxRoutesPerSite).required(),
  https_redirect: Joi.boolean().default(false),
  access: accessSchema,
  rate_limit: rateLimitSchema,
  max_body_bytes: maxBodyBytesSchema,
  error_pages: errorPagesSchema,
});

/** Messages shared by every schema below, so a site validated alone reads like one in a file. */
const MESSAGES = {
  'object.unknown': 'is not a known key',
  'object.base': 'must be a mapping',
  'any.required': 'is required',
};

/** One site, validated on its own (see site-validator.ts). */
export const siteSchema = site.messages(MESSAGES);

/** `workers`: `auto`, or how many worker processes serve traffic (1 keeps one process). */
function workers(value: unknown, helpers: CustomHelpers): unknown {
  const ok =
    value === 'auto' ||
    (typeof value === 'number' &&
      Number.isInteger(value) &&
      value >= 1 &&
      value <= LIMITS.maxWorkers);
  if (ok) return value;
  return helpers.message({
    custom: `must be "auto" or a whole number from 1 to ${LIMITS.maxWorkers}`,
  });
}

export const configSchema = Joi.object({
  workers: Joi.any().custom(workers).default('auto'),
  listeners: Joi.array()
    .items(
      Joi.object({
        address: Joi.string().required().custom(listenAddress).messages(LISTEN_ADDRESS_FORM),
        tls: Joi.boolean().default(false),
        http2: Joi.boolean(),
      }),
    )
    .min(1)
    .max(LIMITS.maxListeners)
    .required(),
  admin: Joi.object({
    socket: Joi.string().allow('').custom(socketPath).default('/run/reverse-proxy/admin.sock'),
    // Empty means "the proxy's own uid and root", resolved at start (the uid is not known here).
    allowed_uids: Joi.array().items(uid).max(64).default([]),
    max_connections: Joi.number().integer().min(1).max(1_000).default(10),
    socket_group: Joi.number().integer().min(0).max(0xfffffffe),
  }).default(),
  health: Joi.object({
    address: Joi.string()
      .allow('')
      .custom(listenAddress)
      .default('127.0.0.1:9900')
      .messages(LISTEN_ADDRESS_FORM),
    socket: Joi.string().custom(socketPath),
    max_connections: Joi.number().integer().min(1).max(10_000).default(64),
  }).default(),
  trusted_proxies: Joi.array().items(Joi.string().custom(cidr)).max(1_000).default([]),
  client: Joi.object({
    header_timeout_ms: ms(1_000, 600_000, 60_000),
    body_idle_timeout_ms: ms(1_000, 3_600_000, 60_000),
    // 0 turns the minimum off.
    body_min_rate_bytes_per_s: Joi.number().integer().min(0).max(1_000_000_000).default(512),
    // 0 turns the whole-request deadline off (long uploads over slow links).
    request_timeout_ms: Joi.alternatives(
      Joi.number().valid(0),
      Joi.number().integer().min(1_000).max(86_400_000),
    ).default(300_000),
    keepalive_timeout_ms: ms(1_000, 3_600_000, 75_000),
  }).default(),
  upstream_pool: Joi.object({
    max_connections: Joi.number().integer().min(1).max(100_000).default(1_024),
    max_queued: Joi.number().integer().min(0).max(1_000_000).default(1_024),
  }).default(),
  shutdown: Joi.object({
    drain_delay_ms: Joi.number().integer().min(0).max(600_000).default(0),
    grace_period_ms: Joi.number().integer().min(0).max(3_600_000).default(25_000),
  }).default(),
  log: Joi.object({
    level: Joi.string()
      .valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')
      .default('info'),
    access_log: Joi.boolean().default(false),
  }).default(),
  tls: Joi.object({
    min_version: Joi.string().valid('TLSv1.2', 'TLSv1.3').default('TLSv1.2'),
    certificates: Joi.array()
      .items(
        Joi.object({
          cert_file: Joi.string().custom(absoluteFile).required(),
          key_file: Joi.string().custom(absoluteFile).required(),
        }),
      )
      .max(LIMITS.maxCertificates)
      .default([]),
  }).default(),
  // Each site is validated on its own with siteSchema (site-validator.ts), so that an
  // unchanged site is not validated again on every reload.
  sites: Joi.array().max(LIMITS.maxSites).default([]),
})
  .required()
  .messages(MESSAGES);

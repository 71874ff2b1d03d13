import Joi from 'joi';
import type { CustomHelpers } from 'joi';
import { LIMITS } from './limits.ts';
import { affinitySchema } from './affinity-schema.ts';
import { accessSchema, maxBodyBytesSchema, rateLimitSchema } from './access-schema.ts';
import { corsSchema } from './cors-schema.ts';
import { normalizePath } from '../routing/request-path.ts';
import {
  checkMatchKeys,
  conditionHeadersSchema,
  methodsSchema,
  pathMatchSchema,
  querySchema,
  redirectSchema,
  regexPath,
  rewriteSchema,
} from './match-schema.ts';

/**
 * One route's schema: where it goes (`upstream` or `upstreams`), how it picks and watches its
 * upstreams, its timeouts and retries, and its rules. Defaults live here and nowhere else.
 */

function upstreamUrl(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return helpers.message({ custom: 'must be an http(s) URL' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return helpers.message({ custom: 'must be an http(s) URL' });
  }
  if (url.username !== '' || url.password !== '') {
    return helpers.message({ custom: 'must not carry credentials (user:password@)' });
  }
  if (url.search !== '' || url.hash !== '') {
    return helpers.message({ custom: 'must not have a query or fragment' });
  }
  return value;
}

/** A route path must be what the data path matches against: its own normal form. */
function routePath(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  const normal = normalizePath(value);
  if (normal === undefined) {
    return helpers.message({
      custom: 'holds an encoded "/", "\\" or control byte, a "\\", or a "." or ".." segment',
    });
  }
  if (normal !== value) {
    return helpers.message({ custom: `is not in normal form: write "${normal}" (see "Paths")` });
  }
  return value;
}

/** Headers the proxy frames or manages itself; a rule may not touch them (docs/config.md). */
const FRAMING = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
];
const MANAGED_REQUEST = new Set([
  ...FRAMING,
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
]);
const MANAGED_RESPONSE = new Set(FRAMING);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, obs-text, spaces and tabs; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function headerRules(side: 'request' | 'response') {
  const managed = side === 'request' ? MANAGED_REQUEST : MANAGED_RESPONSE;
  const refuse = (name: string, op: string): string | undefined => {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) return `"${name}" is not a header name`;
    if (managed.has(lower)) {
      return lower.startsWith('x-forwarded') || lower === 'forwarded'
        ? `"${name}" is set by the proxy (see trusted_proxies) and cannot be changed by a rule`
        : `"${name}" is a framing or hop-by-hop header the proxy manages itself`;
    }
    if (lower === 'host' && op !== 'set') return `"Host" can be set, never added or removed`;
    return undefined;
  };
  const values = (op: 'set' | 'add') =>
    Joi.object()
      .pattern(
        Joi.string().max(256),
        Joi.alternatives(Joi.string(), Joi.number()).custom((v: string | number) => String(v)),
      )
      .custom((value: Record<string, string>, helpers) => {
        for (const [name, text] of Object.entries(value)) {
          const why = refuse(name, op);
          if (why !== undefined) return helpers.message({ custom: why });
          if (!FIELD_VALUE.test(text) || text.length > 8_192) {
            return helpers.message({
              custom: `"${name}": a value must be at most 8192 bytes without CR, LF or NUL`,
            });
          }
        }
        return value;
      });
  return Joi.object({
    set: values('set'),
    add: values('add'),
    remove: Joi.array()
      .items(Joi.string().max(256))
      .max(100)
      .custom((names: string[], helpers) => {
        for (const name of names) {
          const why = refuse(name, 'remove');
          if (why !== undefined) return helpers.message({ custom: why });
        }
        return names;
      }),
  });
}

const ms = (min: number, max: number) => Joi.number().integer().min(min).max(max);

/** An upstream URL; `upstream: 8080` or `""` say what is expected, not "must be a string". */
const upstreamUrlSchema = Joi.string()
  .custom(upstreamUrl)
  .messages({ 'string.base': 'must be an http(s) URL', 'string.empty': 'must be an http(s) URL' });

// Stand-in for the sidecar branch of issue 22 (the proxy side owns this schema and its
// endpointSource rule): accept `{service, port, weight}` so the sidecar can be tested alone.
const upstreamEntry = Joi.object({
  url: upstreamUrlSchema,
  service: Joi.string().pattern(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/),
  port: Joi.alternatives(Joi.string().min(1).max(15), Joi.number().integer().min(1).max(65_535)),
  weight: Joi.number().integer().min(1).max(1_000).default(1),
})
  .xor('url', 'service')
  .with('service', 'port');

export const routeSchema = Joi.object({
  access: accessSchema,
  rate_limit: rateLimitSchema,
  max_body_bytes: maxBodyBytesSchema,
  path: Joi.string()
    .max(LIMITS.maxPathLength)
    .required()
    .when('path_match', {
      is: 'regex',
      then: Joi.string().custom(regexPath),
      otherwise: Joi.string()
        .pattern(/^\/[\x21-\x7e]*$/)
        .messages({ 'string.pattern.base': 'must start with "/" and hold only visible ASCII' })
        .custom(routePath),
    }),
  path_match: pathMatchSchema,
  methods: methodsSchema,
  headers: conditionHeadersSchema,
  query: querySchema,
  rewrite: rewriteSchema,
  redirect: redirectSchema,
  upstream: upstreamUrlSchema,
  upstreams: Joi.array()
    .items(upstreamEntry)
    .min(1)
    .max(LIMITS.maxUpstreamsPerRoute)
    .unique('url', { ignoreUndefined: true })
    .messages({ 'array.unique': 'lists {{#dupeValue.url}} twice' }),
  balance: Joi.string().valid('round_robin', 'least_request', 'random').default('round_robin'),
  // The v1 key: the same setting as timeouts.response_ms.
  timeout_ms: ms(1, 3_600_000),
  timeouts: Joi.object({
    connect_ms: ms(1, 600_000).default(5_000),
    response_ms: ms(1, 3_600_000),
    idle_ms: ms(1, 3_600_000).default(60_000),
  }).default(),
  health_check: Joi.object({
    path: Joi.string()
      .pattern(/^\/[\x21-\x7e]*$/)
      .max(LIMITS.maxPathLength)
      .default('/'),
    interval_ms: ms(100, 3_600_000).default(5_000),
    timeout_ms: ms(1, 600_000).default(1_000),
    healthy_threshold: Joi.number().integer().min(1).max(100).default(2),
    unhealthy_threshold: Joi.number().integer().min(1).max(100).default(3),
  }).messages({ 'string.pattern.base': 'must start with "/" and hold only visible ASCII' }),
  passive_health: Joi.object({
    // 0 turns passive health off for the route.
    consecutive_failures: Joi.number().integer().min(0).max(1_000).default(5),
    ejection_ms: ms(1, 3_600_000).default(30_000),
  }).default(),
  retries: Joi.object({
    attempts: Joi.number().integer().min(0).max(10).default(0),
    budget_percent: Joi.number().min(0).max(100).default(20),
  }).default(),
  strip_prefix: Joi.boolean().default(false),
  compress: Joi.boolean(),
  request_headers: headerRules('request'),
  response_headers: headerRules('response'),
  affinity: affinitySchema,
  cors: corsSchema,
})
  .xor('upstream', 'upstreams', 'redirect')
  .custom((route: RouteShape, helpers) => {
    const why = checkMatchKeys(helpers.original as Record<string, unknown>, route);
    if (why !== undefined) return helpers.message({ custom: '{#why}' }, { why });
    const { timeout_ms: v1, ...rest } = route;
    if (v1 !== undefined && route.timeouts.response_ms !== undefined) {
      return helpers.message({
        custom: 'sets both timeout_ms and timeouts.response_ms (the same setting): keep one',
      });
    }
    // One spelling from here on: the validated route has timeouts.response_ms only.
    return {
      ...rest,
      timeouts: { ...route.timeouts, response_ms: v1 ?? route.timeouts.response_ms ?? 30_000 },
    };
  })
  .messages({
    'object.xor': 'has {{#presentWithLabels}}: use one ("upstreams" for several upstreams)',
    'object.missing': 'needs "upstream" (one URL), "upstreams" (a list) or "redirect"',
  });

type RouteShape = Parameters<typeof checkMatchKeys>[1] & {
  timeout_ms?: number;
  timeouts: { response_ms?: number };
};

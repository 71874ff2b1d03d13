import type { BlockList } from 'node:net';
import { blockListOf } from '../config/cidr.ts';
import type { BasicAuthConfig, ForwardAuthConfig, LimitsConfig } from '../config/types.ts';

/** A route's rate limit, compiled: which bucket space it draws from. */
export interface RouteRateLimit {
  /** Where it was declared (`site api`, or `route api /v1/`): buckets are per scope. */
  readonly scope: string;
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly by: 'client_ip' | 'site';
}

/**
 * What a request must pass before it goes upstream: access lists, limits and authentication.
 * Compiled with the route (undefined when the route and its site have none of these: the
 * data path then pays nothing). Each key is the route's own when it has one, else its site's.
 */
export interface RouteGate {
  readonly deny: BlockList | undefined;
  readonly allow: BlockList | undefined;
  readonly rateLimit: RouteRateLimit | undefined;
  readonly maxBodyBytes: number | undefined;
  /** Its users are read from the snapshot (the file is re-read on every reload). */
  readonly basicAuth: BasicAuthConfig | undefined;
  readonly forwardAuth: ForwardAuthConfig | undefined;
}

export function compileGate(
  siteName: string,
  routePath: string,
  site: LimitsConfig,
  route: LimitsConfig,
): RouteGate | undefined {
  const access = route.access ?? site.access;
  const limit = route.rate_limit ?? site.rate_limit;
  const maxBodyBytes = route.max_body_bytes ?? site.max_body_bytes;
  if (access === undefined && limit === undefined && maxBodyBytes === undefined) return undefined;
  const scope =
    route.rate_limit !== undefined ? `route ${siteName} ${routePath}` : `site ${siteName}`;
  return Object.freeze({
    deny: access?.deny === undefined ? undefined : blockListOf(access.deny),
    allow: access?.allow === undefined ? undefined : blockListOf(access.allow),
    rateLimit:
      limit === undefined
        ? undefined
        : Object.freeze({
            scope,
            ratePerSecond: limit.requests_per_second,
            burst: limit.burst ?? Math.max(1, Math.ceil(limit.requests_per_second)),
            by: limit.by,
          }),
    maxBodyBytes,
    basicAuth: access?.basic_auth,
    forwardAuth: access?.forward_auth,
  });
}

import type { BalanceMode, HealthCheckConfig, LimitsConfig, RouteConfig } from '../config/types.ts';
import { compileGate } from '../access/route-gate.ts';
import type { RouteGate } from '../access/route-gate.ts';
import { compileHeaderRules } from './header-rules.ts';
import type { HeaderRules } from './header-rules.ts';
import { compileCors } from './cors-policy.ts';
import type { CorsPolicy } from './cors-policy.ts';

/** One upstream of a route, as the data path needs it. */
export interface UpstreamTarget {
  /** As written in the config: the metrics label and the health registry's key. */
  readonly url: string;
  /** `http://host:port`, the key of the engine's connection pool. */
  readonly origin: string;
  /** The URL's path without its trailing slash ('' for `/`), prepended to the request's. */
  readonly basePath: string;
  /** The URL's path as written, what a bare `/` maps to. */
  readonly pathname: string;
  readonly weight: number;
}

export interface PassiveHealth {
  readonly consecutiveFailures: number;
  readonly ejectionMs: number;
}

/** One route as the data path needs it: compiled once per config, frozen, never mutated. */
export interface Route {
  readonly site: string;
  readonly path: string;
  /** At least one; `upstream: URL` compiles to a list of one. */
  readonly upstreams: readonly UpstreamTarget[];
  readonly balance: BalanceMode;
  readonly connectMs: number;
  /** From the request sent to the response's headers (504 when it fires). */
  readonly responseMs: number;
  /** The longest silence between two chunks of the response body. */
  readonly idleMs: number;
  /** Retries after the first attempt (0: none), within `retryBudgetPercent` of recent requests. */
  readonly retryAttempts: number;
  readonly retryBudgetPercent: number;
  /** Undefined: passive health is off for the route. */
  readonly passiveHealth: PassiveHealth | undefined;
  readonly healthCheck: HealthCheckConfig | undefined;
  readonly stripPrefix: boolean;
  readonly requestRules: HeaderRules | undefined;
  readonly responseRules: HeaderRules | undefined;
  /** The site's `https_redirect`: plain-HTTP requests get 308 to https:// instead. */
  readonly httpsRedirect: boolean;
  /** Access lists, limits and authentication (undefined: none, and nothing to check). */
  readonly gate: RouteGate | undefined;
  /** `cors`: preflights answered here, CORS headers on responses (undefined: none). */
  readonly cors: CorsPolicy | undefined;
}

export function compileRoute(
  site: string,
  httpsRedirect: boolean,
  r: RouteConfig,
  siteLimits: LimitsConfig = {},
): Route {
  const entries = r.upstreams ?? [{ url: r.upstream as string, weight: 1 }];
  const passive = r.passive_health;
  const gate = compileGate(site, r.path, siteLimits, r);
  return Object.freeze({
    site,
    path: r.path,
    upstreams: Object.freeze(entries.map((e) => compileTarget(e.url, e.weight))),
    balance: r.balance,
    connectMs: r.timeouts.connect_ms,
    responseMs: r.timeouts.response_ms,
    idleMs: r.timeouts.idle_ms,
    retryAttempts: r.retries.attempts,
    retryBudgetPercent: r.retries.budget_percent,
    passiveHealth:
      passive.consecutive_failures === 0
        ? undefined
        : Object.freeze({
            consecutiveFailures: passive.consecutive_failures,
            ejectionMs: passive.ejection_ms,
          }),
    healthCheck: r.health_check,
    stripPrefix: r.strip_prefix,
    requestRules: compileHeaderRules(r.request_headers),
    responseRules: compileHeaderRules(r.response_headers),
    httpsRedirect,
    gate,
    cors: compileCors(r.cors, gate),
  });
}

function compileTarget(url: string, weight: number): UpstreamTarget {
  const target = new URL(url);
  const { pathname } = target;
  return Object.freeze({
    url,
    origin: target.origin,
    basePath: pathname.endsWith('/') ? pathname.slice(0, -1) : pathname,
    pathname,
    weight,
  });
}

/**
 * The upstream path for a request URL (path and query, already normalised by the guard):
 * `strip_prefix` takes the route's path off first (`/v1/users?q` -> `/users?q`, `/v1/` -> `/`),
 * then the target's path goes in front (`/base` + `/users?q`), joined as proxies
 * conventionally join them (http-proxy did): a bare `/` maps to the target's path as written.
 */
export function upstreamPath(route: Route, target: UpstreamTarget, url: string): string {
  let rest = url;
  if (route.stripPrefix && route.path !== '/') {
    rest = url.slice(route.path.endsWith('/') ? route.path.length - 1 : route.path.length);
    if (rest.charCodeAt(0) !== 47 /* / */) rest = `/${rest}`;
  }
  if (target.basePath === '') return rest;
  return rest === '/' ? target.pathname : target.basePath + rest;
}

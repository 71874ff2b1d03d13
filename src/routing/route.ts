import type {
  BalanceMode,
  HealthCheckConfig,
  LimitsConfig,
  RouteConfig,
  UrlUpstreamConfig,
} from '../config/types.ts';
import { compileGate } from '../access/route-gate.ts';
import type { RouteGate } from '../access/route-gate.ts';
import { affinityCompiler, compileAffinity } from './affinity.ts';
import type { Affinity } from './affinity.ts';
import { compileHeaderRules } from './header-rules.ts';
import type { HeaderRules } from './header-rules.ts';
import { compileLinearRegex } from './linear-regex.ts';
import type { LinearRegex } from './linear-regex.ts';
import { compileConditions } from './route-conditions.ts';
import type { RouteConditions } from './route-conditions.ts';
import { compileReplacement } from './path-replacement.ts';
import type { PathMatch, PathReplacement } from './path-replacement.ts';
import { compileRedirect } from './redirect.ts';
import type { Redirect } from './redirect.ts';
import { routeKey } from './route-key.ts';
import { compileCors } from './cors-policy.ts';
import type { CorsPolicy } from './cors-policy.ts';
import { compileServiceRefs } from './service-refs.ts';
import type { ServiceRef } from './service-refs.ts';
import { isServiceEntry } from '../config/service-entry.ts';

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
  /** The route's name in metrics, logs and errors (route-key.ts): its path when plain. */
  readonly path: string;
  /** The path, prefix or pattern as written. */
  readonly matchPath: string;
  readonly pathMatch: PathMatch;
  /** A regex route's compiled pattern. */
  readonly regex: LinearRegex | undefined;
  /** methods, headers and query (undefined: none). */
  readonly conditions: RouteConditions | undefined;
  /** The path sent upstream instead of the request's (`rewrite`, `strip_prefix`). */
  readonly rewrite: PathReplacement | undefined;
  /** Set: the route answers with this redirect, and has no upstreams. */
  readonly redirect: Redirect | undefined;
  /**
   * The URL entries: at least one unless the route redirects or has service entries;
   * `upstream: URL` compiles to a list of one.
   */
  readonly upstreams: readonly UpstreamTarget[];
  /** `{service, port}` entries, whose targets follow the endpoint table (undefined: none). */
  readonly services: readonly ServiceRef[] | undefined;
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
  readonly requestRules: HeaderRules | undefined;
  readonly responseRules: HeaderRules | undefined;
  /** The site's `https_redirect`: plain-HTTP requests get 308 to https:// instead. */
  readonly httpsRedirect: boolean;
  /** Access lists, limits and authentication (undefined: none, and nothing to check). */
  readonly gate: RouteGate | undefined;
  /** Cookie stickiness (undefined: none, or a single upstream). */
  readonly affinity: Affinity | undefined;
  /** A service route's `affinity`, compiled per target list (upstream-registry.ts). */
  readonly affinityFor: ((urls: readonly string[]) => Affinity | undefined) | undefined;
  /** `cors`: preflights answered here, CORS headers on responses (undefined: none). */
  readonly cors: CorsPolicy | undefined;
  /** `compress: true`: gzip or br for the responses proxy/response-compression.ts picks. */
  readonly compress: boolean;
}

export function compileRoute(
  site: string,
  httpsRedirect: boolean,
  r: RouteConfig,
  siteLimits: LimitsConfig = {},
): Route {
  const all = r.upstreams ?? (r.upstream === undefined ? [] : [{ url: r.upstream, weight: 1 }]);
  const entries = all.filter((e) => !isServiceEntry(e)) as readonly UrlUpstreamConfig[];
  const passive = r.passive_health;
  const key = routeKey(r);
  const regex = r.path_match === 'regex' ? compileLinearRegex(r.path) : undefined;
  const replace = (template: string | undefined) =>
    template === undefined ? undefined : compileReplacement(r.path_match, r.path, template, regex);
  const rewrite = replace(r.rewrite?.path ?? (r.strip_prefix && r.path !== '/' ? '/' : undefined));
  const gate = compileGate(site, key, siteLimits, r);
  const services = compileServiceRefs(all);
  return Object.freeze({
    site,
    path: key,
    matchPath: r.path,
    pathMatch: r.path_match,
    regex,
    conditions: compileConditions(r),
    rewrite,
    redirect:
      r.redirect === undefined ? undefined : compileRedirect(r.redirect, replace(r.redirect.path)),
    upstreams: Object.freeze(entries.map((e) => compileTarget(e.url, e.weight))),
    services,
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
    requestRules: compileHeaderRules(r.request_headers),
    responseRules: compileHeaderRules(r.response_headers),
    httpsRedirect,
    gate,
    affinity: compileAffinity(
      site,
      r.affinity,
      entries.map((e) => e.url),
    ),
    affinityFor:
      r.affinity === undefined || services === undefined
        ? undefined
        : affinityCompiler(site, r.affinity),
    cors: compileCors(r.cors, gate),
    compress: r.compress === true,
  });
}

export function compileTarget(url: string, weight: number): UpstreamTarget {
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
 * The request's path and query as the route sends them on: rewritten (`rewrite`,
 * `strip_prefix`: path-replacement.ts) with the query kept, or as received. Undefined: the
 * rewritten path is refused by the normal form (400).
 */
export function routedUrl(route: Route, url: string): string | undefined {
  const rewrite = route.rewrite;
  if (rewrite === undefined) return url;
  const mark = url.indexOf('?');
  const path = rewrite.apply(mark === -1 ? url : url.slice(0, mark));
  if (path === undefined) return undefined;
  return mark === -1 ? path : path + url.slice(mark);
}

/**
 * The upstream path for a request URL (path and query, already normalised by the guard):
 * the route's rewrite first (request-handler.ts has refused the request when it yields
 * nothing), then the target's path goes in front (`/base` + `/users?q`), joined as proxies
 * conventionally join them (http-proxy did): a bare `/` maps to the target's path as written.
 */
export function upstreamPath(route: Route, target: UpstreamTarget, url: string): string {
  const rest = routedUrl(route, url) ?? '/';
  if (target.basePath === '') return rest;
  return rest === '/' ? target.pathname : target.basePath + rest;
}

import type { LimitsConfig, RouteConfig } from '../config/types.ts';
import { compileRoute } from './route.ts';
import type { Route } from './route.ts';
import type { MatchInput } from './route-conditions.ts';
import type { LinearRegex } from './linear-regex.ts';

/**
 * One site's routes indexed for matching, in the documented order (docs/config.md "Matching
 * order"): exact paths, then regexes in file order, then the longest prefix. Wherever several
 * routes share a path, the one with more conditions is tried first, then file order: a
 * header-conditioned route and a plain one on the same path make a canary pair.
 */
export interface SiteRoutes {
  /** Every route, in file order. */
  readonly routes: readonly Route[];
  readonly exact: ReadonlyMap<string, readonly Route[]>;
  /** Regex routes by pattern, in file order of each pattern's first route. */
  readonly regex: readonly RegexGroup[];
  readonly byPrefix: ReadonlyMap<string, readonly Route[]>;
  /** Distinct prefix lengths, longest first. */
  readonly lengths: readonly number[];
}

/** The routes of one pattern: the automaton runs once for all of them. */
interface RegexGroup {
  readonly regex: LinearRegex;
  /** More conditions first, then file order. */
  readonly routes: readonly Route[];
}

/** What compileSiteRoutes needs of a site: plain data, already validated. */
export interface RouteTableSite extends LimitsConfig {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly https_redirect?: boolean;
  readonly routes: readonly RouteConfig[];
}

export function compileSiteRoutes(site: RouteTableSite): SiteRoutes {
  const exact = new Map<string, Route[]>();
  const byPrefix = new Map<string, Route[]>();
  const regex: Route[] = [];
  const routes = site.routes.map((r) =>
    compileRoute(site.name, site.https_redirect === true, r, site),
  );
  for (const route of routes) {
    if (route.pathMatch === 'regex') regex.push(route);
    else addTo(route.pathMatch === 'exact' ? exact : byPrefix, route.matchPath, route);
  }
  for (const list of exact.values()) list.sort(byConditions);
  for (const list of byPrefix.values()) list.sort(byConditions);
  const lengths = [...new Set([...byPrefix.keys()].map((p) => p.length))].sort((a, b) => b - a);
  return Object.freeze({
    routes: Object.freeze(routes),
    exact,
    regex: Object.freeze(orderRegexes(regex)),
    byPrefix,
    lengths: Object.freeze(lengths),
  });
}

function addTo(index: Map<string, Route[]>, path: string, route: Route): void {
  const list = index.get(path);
  if (list === undefined) index.set(path, [route]);
  else list.push(route);
}

/** More conditions first; Array.prototype.sort is stable, so file order among equals. */
function byConditions(a: Route, b: Route): number {
  return (b.conditions?.count ?? 0) - (a.conditions?.count ?? 0);
}

/** File order of each pattern's first route; routes with the same pattern go together. */
function orderRegexes(routes: readonly Route[]): RegexGroup[] {
  const groups = new Map<string, Route[]>();
  for (const route of routes) addTo(groups, route.matchPath, route);
  return [...groups.values()].map((group) =>
    Object.freeze({
      regex: group[0]?.regex as LinearRegex,
      routes: Object.freeze(group.sort(byConditions)),
    }),
  );
}

/** The route for a normalised path (no query string) and the request's other conditions. */
export function matchInSite(site: SiteRoutes, path: string, input: MatchInput): Route | undefined {
  if (site.exact.size > 0) {
    const found = firstHolding(site.exact.get(path), input);
    if (found !== undefined) return found;
  }
  for (const group of site.regex) {
    const { regex, prefix, suffix } = group.regex;
    // The literals every match starts and ends with: most paths are turned away here.
    if (prefix !== '' && !path.startsWith(prefix)) continue;
    if (suffix !== '' && !path.endsWith(suffix)) continue;
    if (!regex.test(path)) continue;
    const found = firstHolding(group.routes, input);
    if (found !== undefined) return found;
  }
  for (const length of site.lengths) {
    if (length > path.length) continue;
    const list = site.byPrefix.get(length === path.length ? path : path.slice(0, length));
    const found = firstHolding(list, input);
    if (found !== undefined) return found;
  }
  return undefined;
}

function firstHolding(list: readonly Route[] | undefined, input: MatchInput): Route | undefined {
  if (list === undefined) return undefined;
  for (const route of list) {
    if (route.conditions === undefined || route.conditions.holds(input)) return route;
  }
  return undefined;
}

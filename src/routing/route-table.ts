/**
 * The compiled routing table and the only matching function. Pure: no I/O, no config parsing.
 * Matching costs one map lookup per dot in the host and one per distinct prefix length in the
 * site, whatever the number of sites.
 */
import { compileSiteRoutes, matchInSite } from './site-routes.ts';
import type { RouteTableSite, SiteRoutes } from './site-routes.ts';
import type { Route } from './route.ts';
import type { MatchInput } from './route-conditions.ts';

export type { Route } from './route.ts';
export type { RouteTableSite } from './site-routes.ts';
export type { MatchInput } from './route-conditions.ts';

/** A bare GET with no headers or query: what a caller that has no request matches as. */
const ANY_GET: MatchInput = Object.freeze({ method: 'GET', rawHeaders: [], url: '/' });

export interface RouteTable {
  readonly exact: ReadonlyMap<string, SiteRoutes>;
  /** `*.example.com` is stored under `example.com`. */
  readonly wildcard: ReadonlyMap<string, SiteRoutes>;
  readonly catchAll: SiteRoutes | undefined;
}

export function buildRouteTable(sites: readonly RouteTableSite[]): RouteTable {
  const exact = new Map<string, SiteRoutes>();
  const wildcard = new Map<string, SiteRoutes>();
  let catchAll: SiteRoutes | undefined;
  for (const site of sites) {
    const routes = buildSiteRoutes(site);
    for (const host of site.hosts) {
      const name = host.toLowerCase();
      if (name === '*') catchAll = routes;
      else if (name.startsWith('*.')) wildcard.set(name.slice(2), routes);
      else exact.set(name, routes);
    }
  }
  return Object.freeze({ exact, wildcard, catchAll });
}

/**
 * Compiled routes by site object. Sites that did not change between two configs are the same
 * frozen objects (config/site-validator.ts hands them back), so a reload compiles only the
 * sites it changed; Route objects, and the metrics series found through them, carry over.
 */
const compiled = new WeakMap<RouteTableSite, SiteRoutes>();

function buildSiteRoutes(site: RouteTableSite): SiteRoutes {
  let routes = compiled.get(site);
  if (routes === undefined) {
    routes = compileSiteRoutes(site);
    // Only a frozen site can be trusted to stay what it was compiled from.
    if (Object.isFrozen(site)) compiled.set(site, routes);
  }
  return routes;
}

/**
 * Finds the route for a Host header value, a request path (normalised, without the query
 * string) and the request's method, headers and query. Exact host first, then the most
 * specific `*.` wildcard, then `*`; within the site, site-routes.ts's order.
 */
export function matchRoute(
  table: RouteTable,
  hostHeader: string,
  path: string,
  input: MatchInput = ANY_GET,
): Route | undefined {
  const site = matchSite(table, normalizeHost(hostHeader));
  return site === undefined ? undefined : matchInSite(site, path, input);
}

/** The name of the site a Host header value selects (for a request no route of it matched). */
export function matchSiteName(table: RouteTable, hostHeader: string): string | undefined {
  // Every site has a route (the schema's min 1), and each route knows its site.
  return matchSite(table, normalizeHost(hostHeader))?.routes[0]?.site;
}

function matchSite(table: RouteTable, host: string): SiteRoutes | undefined {
  const exact = table.exact.get(host);
  if (exact !== undefined) return exact;
  if (table.wildcard.size > 0) {
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const site = table.wildcard.get(host.slice(dot + 1));
      if (site !== undefined) return site;
    }
  }
  return table.catchAll;
}

/** `API.Example.com.:8080` -> `api.example.com`; `[::1]:80` -> `[::1]`. */
export function normalizeHost(hostHeader: string): string {
  let end = hostHeader.length;
  if (hostHeader.startsWith('[')) {
    const close = hostHeader.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = hostHeader.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && hostHeader.charCodeAt(end - 1) === 46 /* . */) end--;
  const host = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  return host.toLowerCase();
}

/**
 * Every site's compiled routes once (a site's routes are shared by all of its hosts). A site
 * that did not change between two configs is the same object in both tables (the compile
 * cache above), so comparing two such sets finds what a reload changed without looking
 * inside the sites that did not.
 */
export function compiledSites(table: RouteTable): Set<CompiledSite> {
  const sites = new Set<SiteRoutes>();
  for (const site of table.exact.values()) sites.add(site);
  for (const site of table.wildcard.values()) sites.add(site);
  if (table.catchAll !== undefined) sites.add(table.catchAll);
  return sites;
}

/** One site's routes, as compiledSites hands them out. */
export type CompiledSite = SiteRoutes;

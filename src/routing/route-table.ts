/**
 * The compiled routing table and the only matching function. Pure: no I/O, no config parsing.
 * Matching costs one map lookup per dot in the host and one per distinct prefix length in the
 * site, whatever the number of sites.
 */
import type { LimitsConfig, RouteConfig } from '../config/types.ts';
import { compileRoute } from './route.ts';
import type { Route } from './route.ts';

export type { Route } from './route.ts';

/** The routes of one site, indexed for longest-prefix matching. */
interface SiteRoutes {
  readonly byPrefix: ReadonlyMap<string, Route>;
  /** Distinct prefix lengths, longest first. */
  readonly lengths: readonly number[];
}

export interface RouteTable {
  readonly exact: ReadonlyMap<string, SiteRoutes>;
  /** `*.example.com` is stored under `example.com`. */
  readonly wildcard: ReadonlyMap<string, SiteRoutes>;
  readonly catchAll: SiteRoutes | undefined;
}

/** What buildRouteTable needs of a site: plain data, already validated. */
export interface RouteTableSite extends LimitsConfig {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly https_redirect?: boolean;
  readonly routes: readonly RouteConfig[];
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

function compileSiteRoutes(site: RouteTableSite): SiteRoutes {
  const byPrefix = new Map<string, Route>();
  for (const r of site.routes) {
    byPrefix.set(r.path, compileRoute(site.name, site.https_redirect === true, r, site));
  }
  const lengths = [...new Set([...byPrefix.keys()].map((p) => p.length))].sort((a, b) => b - a);
  return Object.freeze({ byPrefix, lengths: Object.freeze(lengths) });
}

/**
 * Finds the route for a Host header value and a request path (without the query string).
 * Exact host first, then the most specific `*.` wildcard, then `*`; within the site the
 * longest path prefix wins.
 */
export function matchRoute(table: RouteTable, hostHeader: string, path: string): Route | undefined {
  const site = matchSite(table, normalizeHost(hostHeader));
  if (site === undefined) return undefined;
  for (const length of site.lengths) {
    if (length > path.length) continue;
    const route = site.byPrefix.get(length === path.length ? path : path.slice(0, length));
    if (route !== undefined) return route;
  }
  return undefined;
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

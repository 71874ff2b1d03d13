import { routeKey } from '../routing/route-key.ts';
import { isDeepStrictEqual } from 'node:util';
import { diffStaticFields } from './static-diff.ts';
import type { ProxyConfig, RouteConfig, SiteConfig, UpstreamEntryConfig } from './types.ts';
import { isServiceEntry, serviceLabel } from './service-entry.ts';

/**
 * What changes between two validated configs (defaults applied), site by site (by `name`) and
 * route by route (by `path` within its site): what `reverse-proxy diff` prints and what the
 * sidecar logs on every apply. Pure and deterministic: entries follow config order (the new
 * config's, with removed entries where they stood in the old one).
 *
 * Comparing validated configs means formatting, comments and keys written at their default
 * value are no change; `upstream: X` and `upstreams: [{url: X}]` are the same route (the
 * compiled route is the same), and so are routes or sites listed in another order (a site is
 * picked by host, a route by longest prefix).
 */

/** One value that differs; `key` is a dotted path (`timeouts.response_ms`, `tls.min_version`). */
export interface KeyChange {
  readonly key: string;
  /** `undefined`: not set on that side. */
  readonly from: unknown;
  readonly to: unknown;
}

/** How a route's upstream targets change. `upstream: X` counts as `[{url: X, weight: 1}]`. */
export interface UpstreamChange {
  /** Both sides are one `upstream` URL (weight 1): print as `upstream A -> B`. */
  readonly single: boolean;
  readonly from: readonly UpstreamEntryConfig[];
  readonly to: readonly UpstreamEntryConfig[];
  readonly added: readonly UpstreamEntryConfig[];
  readonly removed: readonly UpstreamEntryConfig[];
  readonly reweighted: readonly {
    readonly url: string;
    readonly from: number;
    readonly to: number;
  }[];
  /** Same URLs and weights in another order (round-robin walks the list in order). */
  readonly reordered: boolean;
}

export type RouteDiff =
  | { readonly kind: 'added'; readonly path: string; readonly route: RouteConfig }
  | { readonly kind: 'removed'; readonly path: string; readonly route: RouteConfig }
  | {
      readonly kind: 'changed';
      readonly path: string;
      /** Absent when the targets are the same. */
      readonly upstream?: UpstreamChange | undefined;
      /** Every other changed key, as leaves of the route object. */
      readonly changes: readonly KeyChange[];
    };

export type SiteDiff =
  | { readonly kind: 'added'; readonly name: string; readonly site: SiteConfig }
  | { readonly kind: 'removed'; readonly name: string; readonly site: SiteConfig }
  | {
      readonly kind: 'changed';
      readonly name: string;
      /** `hosts`, `https_redirect`. */
      readonly changes: readonly KeyChange[];
      readonly routes: readonly RouteDiff[];
    };

export interface ConfigDiff {
  /** Only sites that differ, in config order. */
  readonly sites: readonly SiteDiff[];
  /** Dynamic top-level keys: `tls.min_version`, `tls.certificates`. */
  readonly tls: readonly KeyChange[];
  /** Static keys (static-diff.ts): they apply only after a restart, a reload reports them. */
  readonly restartRequired: readonly string[];
}

export function diffConfigs(old: ProxyConfig, next: ProxyConfig): ConfigDiff {
  const sites: SiteDiff[] = [];
  const oldSites = new Map(old.sites.map((s) => [s.name, s]));
  const nextSites = new Map(next.sites.map((s) => [s.name, s]));
  for (const name of mergeOrder([...oldSites.keys()], [...nextSites.keys()])) {
    const before = oldSites.get(name);
    const after = nextSites.get(name);
    if (before === undefined && after !== undefined)
      sites.push({ kind: 'added', name, site: after });
    else if (after === undefined && before !== undefined) {
      sites.push({ kind: 'removed', name, site: before });
    } else if (before !== undefined && after !== undefined) {
      const changed = diffSite(before, after);
      if (changed !== undefined) sites.push(changed);
    }
  }
  const tls: KeyChange[] = [];
  if (old.tls.min_version !== next.tls.min_version) {
    tls.push({ key: 'tls.min_version', from: old.tls.min_version, to: next.tls.min_version });
  }
  if (!isDeepStrictEqual(old.tls.certificates, next.tls.certificates)) {
    tls.push({ key: 'tls.certificates', from: old.tls.certificates, to: next.tls.certificates });
  }
  return { sites, tls, restartRequired: diffStaticFields(old, next) };
}

export function isEmptyDiff(diff: ConfigDiff): boolean {
  return diff.sites.length === 0 && diff.tls.length === 0 && diff.restartRequired.length === 0;
}

function diffSite(before: SiteConfig, after: SiteConfig): SiteDiff | undefined {
  const changes: KeyChange[] = [];
  // Hosts are a set: a site answers for each of them, in any order.
  if (!sameSet(before.hosts, after.hosts)) {
    changes.push({ key: 'hosts', from: before.hosts, to: after.hosts });
  }
  if (before.https_redirect !== after.https_redirect) {
    changes.push({ key: 'https_redirect', from: before.https_redirect, to: after.https_redirect });
  }
  if (!isDeepStrictEqual(before.error_pages, after.error_pages)) {
    changes.push({ key: 'error_pages', from: before.error_pages, to: after.error_pages });
  }
  const routes: RouteDiff[] = [];
  const oldRoutes = new Map(before.routes.map((r) => [routeKey(r), r]));
  const nextRoutes = new Map(after.routes.map((r) => [routeKey(r), r]));
  for (const path of mergeOrder([...oldRoutes.keys()], [...nextRoutes.keys()])) {
    const a = oldRoutes.get(path);
    const b = nextRoutes.get(path);
    if (a === undefined && b !== undefined) routes.push({ kind: 'added', path, route: b });
    else if (b === undefined && a !== undefined) routes.push({ kind: 'removed', path, route: a });
    else if (a !== undefined && b !== undefined) {
      const changed = diffRoute(a, b);
      if (changed !== undefined) routes.push(changed);
    }
  }
  if (changes.length === 0 && routes.length === 0) return undefined;
  return { kind: 'changed', name: after.name, changes, routes };
}

const KEY_PARTS = ['path', 'path_match', 'methods', 'headers', 'query'];

/** The route keys other than the targets, in the order docs/config.md lists them. */
const ROUTE_KEYS = [
  'balance',
  'timeouts',
  'health_check',
  'passive_health',
  'retries',
  'strip_prefix',
  'request_headers',
  'response_headers',
] as const;

function diffRoute(a: RouteConfig, b: RouteConfig): RouteDiff | undefined {
  const upstream = diffUpstreams(a, b);
  const changes: KeyChange[] = [];
  for (const key of ROUTE_KEYS) leafChanges(key, a[key], b[key], changes);
  // A key the schema grows later is still reported, after the known ones.
  // path, path_match and the conditions are the route's key: a change makes another route.
  const known = new Set<string>([...KEY_PARTS, 'upstream', 'upstreams', ...ROUTE_KEYS]);
  const extra = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !known.has(k));
  for (const key of extra) {
    leafChanges(key, (a as never)[key], (b as never)[key], changes);
  }
  if (upstream === undefined && changes.length === 0) return undefined;
  return { kind: 'changed', path: routeKey(b), upstream, changes };
}

export function upstreamEntries(route: RouteConfig): readonly UpstreamEntryConfig[] {
  if (route.upstreams !== undefined) return route.upstreams;
  return route.upstream === undefined ? [] : [{ url: route.upstream, weight: 1 }];
}

function diffUpstreams(a: RouteConfig, b: RouteConfig): UpstreamChange | undefined {
  const from = upstreamEntries(a);
  const to = upstreamEntries(b);
  const plain = (list: readonly UpstreamEntryConfig[]) =>
    list.map((e) => ({ url: entryName(e), weight: e.weight }));
  if (isDeepStrictEqual(plain(from), plain(to))) return undefined;
  const fromByUrl = new Map(from.map((e) => [entryName(e), e.weight]));
  const toByUrl = new Map(to.map((e) => [entryName(e), e.weight]));
  const added = to.filter((e) => !fromByUrl.has(entryName(e)));
  const removed = from.filter((e) => !toByUrl.has(entryName(e)));
  const reweighted = to.flatMap((e) => {
    const before = fromByUrl.get(entryName(e));
    return before !== undefined && before !== e.weight
      ? [{ url: entryName(e), from: before, to: e.weight }]
      : [];
  });
  const single =
    from.length === 1 && to.length === 1 && from[0]?.weight === 1 && to[0]?.weight === 1;
  const reordered = added.length === 0 && removed.length === 0 && reweighted.length === 0;
  return { single, from, to, added, removed, reweighted, reordered };
}

/** Recurses into plain objects on both sides; anything else (arrays, one side unset) is a leaf. */
function leafChanges(key: string, a: unknown, b: unknown, out: KeyChange[]): void {
  if (isDeepStrictEqual(a, b)) return;
  if (isRecord(a) && isRecord(b)) {
    for (const sub of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
      leafChanges(`${key}.${sub}`, a[sub], b[sub], out);
    }
    return;
  }
  out.push({ key, from: a, to: b });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return a.length === b.length && b.every((x) => set.has(x)) && new Set(b).size === set.size;
}

/**
 * The keys of both lists in config order: the new list's order, each removed key placed
 * just before the first key that followed it in the old list.
 */
function mergeOrder(oldKeys: readonly string[], nextKeys: readonly string[]): string[] {
  const inNext = new Set(nextKeys);
  const oldIndex = new Map(oldKeys.map((k, i) => [k, i]));
  const out: string[] = [];
  let cursor = 0; // next old index whose removed keys are not yet placed
  const flushRemovedBefore = (limit: number) => {
    for (; cursor < limit; cursor++) {
      const key = oldKeys[cursor] as string;
      if (!inNext.has(key)) out.push(key);
    }
  };
  for (const key of nextKeys) {
    const i = oldIndex.get(key);
    if (i !== undefined && i >= cursor) flushRemovedBefore(i + 1);
    out.push(key);
  }
  flushRemovedBefore(oldKeys.length);
  return out;
}

/** A URL entry by its URL, a service entry as `service users:http` (issue 22). */
export function entryName(entry: UpstreamEntryConfig): string {
  return isServiceEntry(entry) ? serviceLabel(entry) : entry.url;
}

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

function isRecord(value: unknown): value is Record<string, unknown> {
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

// ---------------------------------------------------------------------------------------------
// Text

/** A value as one short piece of text: strings bare, lists in brackets, objects in braces. */
export function formatValue(value: unknown): string {
  if (value === undefined) return '(unset)';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (isRecord(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${k}: ${formatValue(v)}`).join(', ')}}`;
  }
  return String(value);
}

function formatEntries(list: readonly UpstreamEntryConfig[]): string {
  return list
    .map((e) => (e.weight === 1 ? entryName(e) : `${entryName(e)} (weight ${e.weight})`))
    .join(', ');
}

/** A URL entry by its URL, a service entry as `service users:http` (issue 22). */
function entryName(entry: UpstreamEntryConfig): string {
  return isServiceEntry(entry) ? serviceLabel(entry) : entry.url;
}

function formatRouteTarget(route: RouteConfig): string {
  const redirect = route.redirect;
  if (redirect !== undefined) {
    const to = ['scheme', 'host', 'port', 'path'] as const;
    const parts = to.filter((k) => redirect[k] !== undefined).map((k) => `${k} ${redirect[k]}`);
    return `redirect ${redirect.status}${parts.length === 0 ? '' : ` (${parts.join(', ')})`}`;
  }
  return formatEntries(upstreamEntries(route));
}

/** `upstream A -> B`, or the list's changes: `upstreams + C (weight 2), - A, B weight 1 -> 3`. */
export function formatUpstreamChange(change: UpstreamChange): string {
  if (change.single) {
    const [a, b] = [change.from[0], change.to[0]];
    return `upstream ${a === undefined ? '' : entryName(a)} -> ${b === undefined ? '' : entryName(b)}`;
  }
  if (change.reordered) {
    return `upstreams reordered: ${formatEntries(change.from)} -> ${formatEntries(change.to)}`;
  }
  const parts = [
    ...change.added.map((e) => `+ ${formatEntries([e])}`),
    ...change.removed.map((e) => `- ${formatEntries([e])}`),
    ...change.reweighted.map((w) => `${w.url} weight ${w.from} -> ${w.to}`),
  ];
  return `upstreams ${parts.join(', ')}`;
}

function formatKeyChange(change: KeyChange): string {
  return `${change.key} ${formatValue(change.from)} -> ${formatValue(change.to)}`;
}

function routeChangeText(route: Extract<RouteDiff, { kind: 'changed' }>): string {
  const parts = route.upstream === undefined ? [] : [formatUpstreamChange(route.upstream)];
  return [...parts, ...route.changes.map(formatKeyChange)].join('; ');
}

/**
 * The human lines, one per site, route or top-level change:
 * `~ site api`, `  + route /v2/ -> http://...`, `  - route /old/`,
 * `  ~ route /v1/: upstream http://a:1 -> http://b:2; timeouts.response_ms 30000 -> 5000`.
 * Empty when nothing changes.
 */
export function formatDiff(diff: ConfigDiff): string[] {
  const lines: string[] = [];
  for (const site of diff.sites) {
    if (site.kind === 'added') {
      lines.push(`+ site ${site.name} (hosts ${site.site.hosts.join(', ')})`);
      for (const r of site.site.routes)
        lines.push(`  + route ${routeKey(r)} -> ${formatRouteTarget(r)}`);
    } else if (site.kind === 'removed') {
      const n = site.site.routes.length;
      lines.push(`- site ${site.name} (${n} route${n === 1 ? '' : 's'})`);
    } else {
      const keys = site.changes.map(formatKeyChange).join('; ');
      lines.push(keys === '' ? `~ site ${site.name}` : `~ site ${site.name}: ${keys}`);
      for (const r of site.routes) {
        if (r.kind === 'added') lines.push(`  + route ${r.path} -> ${formatRouteTarget(r.route)}`);
        else if (r.kind === 'removed') lines.push(`  - route ${r.path}`);
        else lines.push(`  ~ route ${r.path}: ${routeChangeText(r)}`);
      }
    }
  }
  for (const change of diff.tls) lines.push(`~ ${formatKeyChange(change)}`);
  for (const key of diff.restartRequired) {
    lines.push(`! ${key} changed: applies only after a restart (a reload keeps the old value)`);
  }
  return lines;
}

/** The top-level key names of a changed route: `upstream`, `timeouts`, `retries`. */
function changedRouteKeys(route: Extract<RouteDiff, { kind: 'changed' }>): string[] {
  const keys = route.changes.map((c) => c.key.split('.')[0] as string);
  return [...new Set([...(route.upstream === undefined ? [] : ['upstream']), ...keys])];
}

interface Group {
  /** `2 routes changed`. */
  readonly head: string;
  readonly items: readonly string[];
}

export const SUMMARY_MAX = 200;

/**
 * One line for a Kubernetes Event or a log field, at most about `max` characters:
 * `2 routes changed (api /v1/: upstream, api /v3/: timeouts+retries), 1 route added (api /v2/),
 * 1 site removed (old)`. Every count is always there; items are given out one group at a time
 * (each group's first item, then each group's second) while the line fits, and the ones left
 * out become "and N more". `no change` when nothing changes.
 */
export function summarize(diff: ConfigDiff, max = SUMMARY_MAX): string {
  const changedRoutes: string[] = [];
  const addedRoutes: string[] = [];
  const removedRoutes: string[] = [];
  const changedSites: string[] = [];
  const addedSites: string[] = [];
  const removedSites: string[] = [];
  for (const site of diff.sites) {
    if (site.kind === 'added') addedSites.push(site.name);
    else if (site.kind === 'removed') removedSites.push(site.name);
    else {
      if (site.changes.length > 0) {
        changedSites.push(`${site.name}: ${site.changes.map((c) => c.key).join('+')}`);
      }
      for (const r of site.routes) {
        const where = `${site.name} ${r.path}`;
        if (r.kind === 'added') addedRoutes.push(where);
        else if (r.kind === 'removed') removedRoutes.push(where);
        else changedRoutes.push(`${where}: ${changedRouteKeys(r).join('+')}`);
      }
    }
  }
  const counted = (items: readonly string[], noun: string, verb: string): Group => ({
    head: `${items.length} ${noun}${items.length === 1 ? '' : 's'} ${verb}`,
    items,
  });
  const groups: Group[] = [
    counted(changedRoutes, 'route', 'changed'),
    counted(addedRoutes, 'route', 'added'),
    counted(removedRoutes, 'route', 'removed'),
    counted(changedSites, 'site', 'changed'),
    counted(addedSites, 'site', 'added'),
    counted(removedSites, 'site', 'removed'),
    { head: 'tls changed', items: diff.tls.map((c) => c.key.replace(/^tls\./, '')) },
    { head: 'restart needed', items: diff.restartRequired },
  ].filter((g) => g.items.length > 0);
  if (groups.length === 0) return 'no change';
  const shown = groups.map(() => 0);
  const render = () =>
    groups
      .map((g, i) => {
        const n = shown[i] as number;
        if (n === 0) return g.head;
        const items = g.items.slice(0, n);
        if (n < g.items.length) items.push(`and ${g.items.length - n} more`);
        return `${g.head} (${items.join(', ')})`;
      })
      .join(', ');
  // A group stops getting items at the first one that does not fit, so items stay in order.
  const open = groups.map(() => true);
  while (open.some(Boolean)) {
    groups.forEach((g, i) => {
      if (!open[i]) return;
      shown[i] = (shown[i] as number) + 1;
      if (render().length > max) {
        shown[i] = (shown[i] as number) - 1;
        open[i] = false;
      } else if (shown[i] === g.items.length) open[i] = false;
    });
  }
  return render();
}

import { routeKey } from '../routing/route-key.ts';
import { entryName, isRecord, upstreamEntries } from './config-diff.ts';
import type { ConfigDiff, KeyChange, RouteDiff, UpstreamChange } from './config-diff.ts';
import type { RouteConfig, UpstreamEntryConfig } from './types.ts';

/**
 * A config diff (config-diff.ts) as text: the lines `reverse-proxy diff` prints and the sidecar
 * logs, and the one-line summary the sidecar puts in its Events.
 */

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

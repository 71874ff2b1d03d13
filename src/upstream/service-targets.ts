import type { EndpointTable } from '../endpoints/endpoint-table.ts';
import type { Route, UpstreamTarget } from '../routing/route.ts';

/**
 * A route's targets under an endpoint table: its URL entries as compiled, then each service
 * entry's endpoints, the entry's weight split evenly over them (`service a, weight 3` and
 * `service b, weight 1` send 3:1 whatever the pod counts). The balancers take fractional weights
 * as they are. An address listed twice (two entries, or a URL entry too) is one target, the
 * first one; the shares of the later ones are not added (a configuration that names one pod
 * twice gets no more than it names once).
 */
export function serviceTargets(route: Route, table: EndpointTable): UpstreamTarget[] {
  const out: UpstreamTarget[] = [...route.upstreams];
  const seen = new Set(out.map((t) => t.url));
  for (const ref of route.services ?? []) {
    const endpoints = table.get(ref.key);
    if (endpoints === undefined || endpoints.targets.length === 0) continue;
    const weight = ref.weight / endpoints.targets.length;
    for (const target of endpoints.targets) {
      if (seen.has(target.url)) continue;
      seen.add(target.url);
      out.push(weight === 1 ? target : { ...target, weight });
    }
  }
  return out;
}

/** The route's service keys whose endpoints differ between the two tables. */
export function servicesChanged(route: Route, from: EndpointTable, to: EndpointTable): boolean {
  for (const ref of route.services ?? []) {
    if (from.get(ref.key)?.signature !== to.get(ref.key)?.signature) return true;
  }
  return false;
}

import { isIPv4, isIPv6 } from 'node:net';
import type { ServiceRef } from './service-refs.ts';

/** The fields of a discovery.k8s.io/v1 EndpointSlice the sidecar reads (list and watch alike). */
export interface SliceLike {
  readonly metadata?: {
    readonly name?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly addressType?: string;
  readonly endpoints?:
    | readonly {
        readonly addresses?: readonly string[];
        readonly conditions?: {
          readonly ready?: boolean | null;
          readonly serving?: boolean | null;
          readonly terminating?: boolean | null;
        } | null;
      }[]
    | null;
  readonly ports?:
    | readonly {
        readonly name?: string | null;
        readonly port?: number | null;
      }[]
    | null;
}

export const SERVICE_LABEL = 'kubernetes.io/service-name';

/** One endpoint as the file carries it. */
export interface FileEndpoint {
  readonly address: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

/** One (service, port) entry of the endpoints file (docs/operations.md, "Endpoints"). */
export interface ServiceEntry {
  readonly service: string;
  readonly port: string | number;
  readonly resolved_port: number | null;
  readonly problem: string | null;
  readonly endpoints: readonly FileEndpoint[];
}

/**
 * Resolves each (service, port) against all the slices of its Service. A string port is the
 * slice port's `name`, a number its `port`; each slice has its own port list (pods of one
 * Service may map a named port to different numbers), so each endpoint takes its own slice's
 * number and `resolved_port` is the first one found. The first address of an endpoint is the
 * one to use (the API says the others are fungible); an address in two slices (a slice being
 * replaced) is written once, its ready copy winning. Missing conditions read as the API
 * documents: ready and serving true, terminating false. FQDN slices carry no address the proxy
 * can dial and are skipped.
 */
export function aggregate(
  refs: readonly ServiceRef[],
  slicesByService: ReadonlyMap<string, readonly SliceLike[]>,
): ServiceEntry[] {
  return refs.map((ref) => entryFor(ref, slicesByService.get(ref.service) ?? []));
}

function entryFor(ref: ServiceRef, slices: readonly SliceLike[]): ServiceEntry {
  const base = { service: ref.service, port: ref.port };
  if (slices.length === 0) {
    return {
      ...base,
      resolved_port: null,
      problem: `Service "${ref.service}" has no EndpointSlices`,
      endpoints: [],
    };
  }
  const byAddress = new Map<string, FileEndpoint>();
  let resolved: number | null = null;
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const port = portIn(slice, ref.port);
    if (port === undefined) continue;
    resolved ??= port;
    for (const endpoint of slice.endpoints ?? []) {
      const address = canonicalAddress(endpoint.addresses?.[0], slice.addressType);
      if (address === undefined) continue;
      const c = endpoint.conditions ?? {};
      const found: FileEndpoint = {
        address,
        port,
        ready: c.ready ?? true,
        serving: c.serving ?? true,
        terminating: c.terminating ?? false,
      };
      // One endpoint is an address and a port: the same pod in two slices (a slice being
      // split or merged) is written once, and the ready copy wins.
      const key = `${address} ${port}`;
      const seen = byAddress.get(key);
      if (seen === undefined || (!seen.ready && found.ready)) byAddress.set(key, found);
    }
  }
  const endpoints = [...byAddress.values()].sort((a, b) =>
    a.address < b.address ? -1 : a.address > b.address ? 1 : 0,
  );
  return {
    ...base,
    resolved_port: resolved,
    // A Service scaled to zero has a placeholder slice without ports: nothing to resolve
    // against, and nothing wrong with the config either.
    problem: resolved === null && slices.some(hasPorts) ? missingPort(ref, slices) : null,
    endpoints,
  };
}

/**
 * An address in one spelling, so that one pod written two ways (`FD00:0:0::2` in one slice,
 * `fd00::2` in another: the API server keeps what the controller wrote) is one endpoint.
 * Undefined: not an address of the slice's type.
 */
function canonicalAddress(address: string | undefined, type: string): string | undefined {
  if (address === undefined || address === '') return undefined;
  if (type === 'IPv4') return isIPv4(address) ? address : undefined;
  if (!isIPv6(address)) return undefined;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

const hasPorts = (slice: SliceLike) => (slice.ports ?? []).length > 0;

function portIn(slice: SliceLike, wanted: string | number): number | undefined {
  for (const p of slice.ports ?? []) {
    if (typeof p.port !== 'number') continue;
    if (typeof wanted === 'string' ? p.name === wanted : p.port === wanted) return p.port;
  }
  return undefined;
}

/** `port "http" is not a port of Service "users" (its endpoints have: metrics 9090)`. */
function missingPort(ref: ServiceRef, slices: readonly SliceLike[]): string {
  const have = new Set<string>();
  for (const slice of slices)
    for (const p of slice.ports ?? [])
      if (typeof p.port === 'number') have.add(p.name ? `${p.name} ${p.port}` : String(p.port));
  const named = typeof ref.port === 'string' ? `"${ref.port}"` : String(ref.port);
  const list = have.size === 0 ? 'no ports' : [...have].sort().join(', ');
  return `port ${named} is not a port of Service "${ref.service}" (its endpoints have: ${list})`;
}

import { isServiceEntry, serviceKey } from '../config/service-entry.ts';
import type { UpstreamEntryConfig } from '../config/types.ts';

/** One `{service, port, weight}` entry of a route, compiled: its key in the endpoint table. */
export interface ServiceRef {
  /** `service\0port` (config/service-entry.ts serviceKey). */
  readonly key: string;
  readonly service: string;
  /** As the config wrote it, as a string: the endpoints file's `port`, stringified. */
  readonly port: string;
  /** The entry's share, split evenly over its endpoints. */
  readonly weight: number;
}

/** Undefined for a route without service entries: it pays nothing for them. */
export function compileServiceRefs(
  entries: readonly UpstreamEntryConfig[],
): readonly ServiceRef[] | undefined {
  const refs = entries.filter(isServiceEntry).map((e) =>
    Object.freeze({
      key: serviceKey(e.service, e.port),
      service: e.service,
      port: String(e.port),
      weight: e.weight,
    }),
  );
  return refs.length === 0 ? undefined : Object.freeze(refs);
}

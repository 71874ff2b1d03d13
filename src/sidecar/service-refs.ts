import { parseConfigYaml } from '../config/parse.ts';

/** One (service, port) a config names, `port` exactly as the config wrote it. */
export interface ServiceRef {
  readonly service: string;
  readonly port: string | number;
}

/**
 * The `{service, port}` upstream entries of a config that has passed validation, in the order
 * they first appear, each pair once. Read from the plain parsed data rather than the typed
 * config: the sidecar needs only these two fields, and validation already vouched for them.
 */
export function serviceRefsOf(bytes: Buffer): ServiceRef[] {
  const value = parseConfigYaml(bytes, 'config').value;
  const refs = new Map<string, ServiceRef>();
  for (const site of arrayAt(value, 'sites')) {
    for (const route of arrayAt(site, 'routes')) {
      for (const entry of arrayAt(route, 'upstreams')) {
        if (!isRecord(entry) || typeof entry.service !== 'string') continue;
        const port = entry.port;
        if (typeof port !== 'string' && typeof port !== 'number') continue;
        refs.set(refKey({ service: entry.service, port }), { service: entry.service, port });
      }
    }
  }
  return [...refs.values()];
}

/** How the proxy finds an entry: `service` + `String(port)`. */
export const refKey = (ref: ServiceRef): string => `${ref.service}\u0000${String(ref.port)}`;

/** The Services of `refs`, sorted and each once (the selector's set). */
export function servicesOf(refs: readonly ServiceRef[]): string[] {
  return [...new Set(refs.map((ref) => ref.service))].sort();
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function arrayAt(value: unknown, key: string): unknown[] {
  if (!isRecord(value)) return [];
  const found = value[key];
  return Array.isArray(found) ? found : [];
}

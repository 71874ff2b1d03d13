import { buildRouteTable } from '../routing/route-table.ts';
import type { RouteTable } from '../routing/route-table.ts';
import type { ProxyConfig } from './types.ts';

/** Everything a request needs, compiled once per config and never mutated. */
export interface Snapshot {
  readonly generation: number;
  readonly sha256: string;
  readonly loadedAt: Date;
  readonly config: ProxyConfig;
  readonly table: RouteTable;
}

export function compileSnapshot(config: ProxyConfig, sha256: string, generation: number): Snapshot {
  return Object.freeze({
    generation,
    sha256,
    loadedAt: new Date(),
    config: deepFreeze(config),
    table: buildRouteTable(config.sites),
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

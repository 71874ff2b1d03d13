import { isDeepStrictEqual } from 'node:util';
import { STATIC_KEYS } from './types.ts';
import type { ProxyConfig } from './types.ts';

/**
 * Names the static fields that differ between the running config and a new one (seed W6):
 * `listeners` as a whole, and the changed sub-keys of the other static sections, e.g.
 * `admin.socket`. These apply only after a restart.
 */
export function diffStaticFields(running: ProxyConfig, next: ProxyConfig): string[] {
  const changed: string[] = [];
  for (const key of STATIC_KEYS) {
    const before: unknown = running[key];
    const after: unknown = next[key];
    if (isDeepStrictEqual(before, after)) continue;
    if (isPlainRecord(before) && isPlainRecord(after)) {
      const subKeys = new Set([...Object.keys(before), ...Object.keys(after)]);
      for (const sub of [...subKeys].sort()) {
        if (!isDeepStrictEqual(before[sub], after[sub])) changed.push(`${key}.${sub}`);
      }
    } else {
      changed.push(key);
    }
  }
  return changed;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

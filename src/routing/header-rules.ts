import type { HeaderRulesConfig } from '../config/types.ts';

/**
 * A route's `request_headers` / `response_headers`, compiled once per config: names lower-cased,
 * in the order they apply (remove, then set, then add), so that `set` replaces whatever the
 * message carried and `add` appends to it. The schema has already refused the headers the proxy
 * frames or manages itself (route-schema.ts).
 */
export interface HeaderRules {
  /** Names removed, and names `set` replaces: every value of them goes first. */
  readonly drop: ReadonlySet<string>;
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
}

export function compileHeaderRules(config: HeaderRulesConfig | undefined): HeaderRules | undefined {
  if (config === undefined) return undefined;
  const lower = (pairs: Readonly<Record<string, string>> | undefined) =>
    Object.entries(pairs ?? {}).map(([name, value]) => [name.toLowerCase(), value] as const);
  const set = lower(config.set);
  const add = lower(config.add);
  const drop = new Set([
    ...(config.remove ?? []).map((n) => n.toLowerCase()),
    ...set.map(([n]) => n),
  ]);
  if (drop.size === 0 && add.length === 0) return undefined;
  return Object.freeze({ drop, set: Object.freeze(set), add: Object.freeze(add) });
}

/** Request side: a flat [name, value, ...] list as undici takes it (names in any case). */
export function applyToFlatHeaders(rules: HeaderRules, flat: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!rules.drop.has(name.toLowerCase())) out.push(name, flat[i + 1] as string);
  }
  for (const [name, value] of rules.set) out.push(name, value);
  for (const [name, value] of rules.add) out.push(name, value);
  return out;
}

type HeaderObject = Record<string, string | string[] | undefined>;

/** Response side: the header object writeHead takes; `add` turns a single value into a list. */
export function applyToHeaderObject(rules: HeaderRules, headers: HeaderObject): HeaderObject {
  for (const name of rules.drop) delete headers[name];
  for (const [name, value] of rules.set) headers[name] = value;
  for (const [name, value] of rules.add) {
    const current = headers[name];
    headers[name] =
      current === undefined
        ? value
        : Array.isArray(current)
          ? [...current, value]
          : [current, value];
  }
  return headers;
}

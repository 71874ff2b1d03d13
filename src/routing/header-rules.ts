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
  /** The same names as CGI reads them (`_` as `-`), for the request side. */
  readonly dropCgi: ReadonlySet<string>;
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
  const dropCgi = new Set([...drop].map(cgiName));
  return Object.freeze({ drop, dropCgi, set: Object.freeze(set), add: Object.freeze(add) });
}

/** A lower-case header name as CGI-style upstreams read it: `x_env` and `x-env` are one. */
function cgiName(lower: string): string {
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

/**
 * Request side: a flat [name, value, ...] list as undici takes it (names in any case). A name
 * a rule removes or sets goes in its underscore spelling too (`X_Env` for `X-Env`): CGI-style
 * upstreams (PHP, nginx with underscores_in_headers) read both as HTTP_X_ENV, so a client
 * could otherwise slip its own value past the rule, as forward-headers.ts refuses for the
 * headers the proxy manages.
 */
export function applyToFlatHeaders(rules: HeaderRules, flat: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!rules.dropCgi.has(cgiName(name.toLowerCase()))) out.push(name, flat[i + 1] as string);
  }
  for (const [name, value] of rules.set) out.push(name, value);
  for (const [name, value] of rules.add) out.push(name, value);
  return out;
}

export type HeaderObject = Record<string, string | string[] | undefined>;

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

import { createHmac } from 'node:crypto';
import type { AffinityConfig } from '../config/types.ts';

/**
 * A route's `affinity`, compiled: which cookie value names which upstream, and the Set-Cookie
 * line that pins a client to each one. The request path only looks a value up in a map.
 */
export interface Affinity {
  readonly cookie: string;
  /** A cookie value -> the index of its upstream in `urls`. */
  readonly byValue: ReadonlyMap<string, number>;
  /** The upstreams the values name, in the order the route's runtime lists them. */
  readonly urls: readonly string[];
  /** An upstream URL -> its index in `urls`. */
  readonly byUrl: ReadonlyMap<string, number>;
  /** Per upstream, the Set-Cookie value for a plain-HTTP client and for a TLS one. */
  readonly setCookie: readonly string[];
  readonly setCookieSecure: readonly string[];
}

/** Where an operator gives the key that keeps cookie values from revealing addresses. */
export const AFFINITY_SECRET_ENV = 'AFFINITY_COOKIE_SECRET';

/** 128 bits of the HMAC: no collision among a route's upstreams, and nothing to guess. */
const VALUE_BYTES = 16;

/**
 * Undefined for a route of one upstream: there is nothing to choose, so no cookie is set and
 * the route pays nothing (a pool that grows later starts pinning then).
 *
 * A value is HMAC-SHA256(key, upstream URL), truncated, where the key is derived from the
 * site, the cookie name and the secret in AFFINITY_COOKIE_SECRET (docs/security-model.md,
 * "Affinity cookies"). It is a function of the config and that secret only, so every worker
 * and every replica computes the same values, and a reload that keeps an upstream keeps its
 * clients. Keyed by the cookie name rather than the route path, routes of a site that share a
 * cookie and an upstream (a page route and its WebSocket route) pin a client to the same one.
 */
export function compileAffinity(
  site: string,
  config: AffinityConfig | undefined,
  urls: readonly string[],
  secret: string = process.env[AFFINITY_SECRET_ENV] ?? '',
): Affinity | undefined {
  if (config === undefined) return undefined;
  return affinityCompiler(site, config, secret)(urls);
}

/**
 * The same for a list of upstreams that changes without a config revision (service upstreams:
 * their endpoints), compiled again at each endpoint update. An endpoint that stays keeps its
 * value (the HMAC of its URL), so its clients stay pinned across updates; values are cached
 * from one list to the next, so an update pays only for the addresses it brings.
 */
export function affinityCompiler(
  site: string,
  config: AffinityConfig,
  secret: string = process.env[AFFINITY_SECRET_ENV] ?? '',
): (urls: readonly string[]) => Affinity | undefined {
  const key = createHmac('sha256', secret)
    .update(`reverse-proxy affinity v1\0${site}\0${config.cookie}`)
    .digest();
  const attributes = `; Path=/${config.max_age_s === undefined ? '' : `; Max-Age=${config.max_age_s}`}; HttpOnly; SameSite=Lax`;
  let cache = new Map<string, string>();
  return (urls) => {
    if (urls.length < 2) return undefined;
    const values = new Map<string, string>();
    const byValue = new Map<string, number>();
    const byUrl = new Map<string, number>();
    const setCookie: string[] = [];
    const setCookieSecure: string[] = [];
    urls.forEach((url, index) => {
      const value =
        cache.get(url) ??
        createHmac('sha256', key)
          .update(url)
          .digest()
          .subarray(0, VALUE_BYTES)
          .toString('base64url');
      values.set(url, value);
      byValue.set(value, index);
      byUrl.set(url, index);
      const line = `${config.cookie}=${value}${attributes}`;
      setCookie.push(config.secure ? `${line}; Secure` : line);
      setCookieSecure.push(`${line}; Secure`);
    });
    cache = values;
    return Object.freeze({
      cookie: config.cookie,
      byValue,
      urls: Object.freeze([...urls]),
      byUrl,
      setCookie: Object.freeze(setCookie),
      setCookieSecure: Object.freeze(setCookieSecure),
    });
  };
}

/**
 * The upstream index the request's cookie names, or -1 (no cookie, or a value no upstream of
 * this route has: forged, stale, another route's). Every Cookie header is read (HTTP/2 may
 * split the cookies over several), without building a parsed cookie object.
 */
export function pinnedIndex(affinity: Affinity, rawHeaders: readonly string[]): number {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 6 || name.toLowerCase() !== 'cookie') continue;
    const found = findIn(affinity, rawHeaders[i + 1] as string);
    if (found >= 0) return found;
  }
  return -1;
}

/** The first pair `NAME=value` in one Cookie header whose value is one of the route's. */
function findIn(affinity: Affinity, header: string): number {
  const name = affinity.cookie;
  let at = header.indexOf(name);
  while (at >= 0) {
    const end = at + name.length;
    if (header.charCodeAt(end) === 61 /* = */ && startsPair(header, at)) {
      let stop = header.indexOf(';', end);
      if (stop < 0) stop = header.length;
      const index = affinity.byValue.get(header.slice(end + 1, stop).trim());
      if (index !== undefined) return index;
    }
    at = header.indexOf(name, end);
  }
  return -1;
}

/** At the header's start or after `;` and optional spaces: not the tail of a longer name. */
function startsPair(header: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && (header.charCodeAt(i) === 32 || header.charCodeAt(i) === 9)) i--;
  return i < 0 || header.charCodeAt(i) === 59; /* ; */
}

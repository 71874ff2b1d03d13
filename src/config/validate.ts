import { routeKey } from '../routing/route-key.ts';
import { ConfigInvalidError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import { formatAddress, isWildcardHost, parseListenAddress } from './address.ts';
import { describeFailures } from './issue-messages.ts';
import type { SchemaFailure } from './issue-messages.ts';
import { LIMITS } from './limits.ts';
import type { ParsedConfig } from './parse.ts';
import { configSchema } from './schema.ts';
import { SiteValidator } from './site-validator.ts';
import type { ProxyConfig, SiteConfig } from './types.ts';

/** What validation needs besides the file: the same flags at start and at every reload (W5). */
export interface ValidateOptions {
  readonly allowWildcardBind: boolean;
  /** --endpoints-file given: `service:` upstream entries have an endpoint source. */
  readonly endpointSource?: boolean;
}

type Path = readonly (string | number)[];

/** Shared by every validation in the process: an unchanged site is validated once. */
const siteValidator = new SiteValidator();

/**
 * Schema, then the rules that compare values with each other. Every broken rule is reported,
 * each with its path and, when the YAML gives one, its line.
 */
export function validateConfig(parsed: ParsedConfig, options: ValidateOptions): ProxyConfig {
  if (parsed.value === null || parsed.value === undefined) {
    throw new ConfigInvalidError([{ path: '', message: 'the config is empty' }]);
  }
  const { value, error } = configSchema.validate(parsed.value, {
    abortEarly: false,
    errors: { label: false },
  });
  const located = (path: Path, message: string): ConfigIssue => ({
    path: formatPath(path),
    message,
    line: parsed.lineOf(path),
  });
  const details: SchemaFailure[] = (error?.details ?? []).map((detail) => ({
    path: detail.path,
    detail,
  }));
  const rawSites: unknown = value?.sites;
  const sites: SiteConfig[] = [];
  if (Array.isArray(rawSites)) {
    rawSites.forEach((raw: unknown, i) => {
      const result = siteValidator.validate(raw);
      if (result.details === undefined) sites.push(result.value);
      else
        for (const d of result.details) details.push({ path: ['sites', i, ...d.path], detail: d });
    });
  }
  siteValidator.endGeneration();
  if (details.length > 0) {
    throw new ConfigInvalidError(
      describeFailures(details).map(({ path, message }) => located(path, message)),
    );
  }
  const config = { ...(value as ProxyConfig), sites };
  const issues = crossChecks(config, options).map(([path, message]) => located(path, message));
  if (issues.length > 0) throw new ConfigInvalidError(issues);
  return config;
}

/** `['sites', 1, 'routes', 0, 'upstream']` -> `sites[1].routes[0].upstream`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

type Found = [Path, string];

function crossChecks(config: ProxyConfig, options: ValidateOptions): Found[] {
  return [
    ...checkListeners(config, options),
    ...checkSocketPaths(config),
    ...checkClientTimeouts(config),
    ...checkTlsListeners(config),
    ...checkSites(config.sites),
  ];
}

function checkTlsListeners(config: ProxyConfig): Found[] {
  const found: Found[] = [];
  config.listeners.forEach((listener, i) => {
    if (listener.http2 === true && !listener.tls) {
      found.push([
        ['listeners', i, 'http2'],
        'needs tls: true (HTTP/2 without TLS, h2c, is not served)',
      ]);
    }
    if (listener.tls && config.tls.certificates.length === 0) {
      found.push([['listeners', i, 'tls'], 'needs at least one certificate in tls.certificates']);
    }
  });
  return found;
}

function checkClientTimeouts(config: ProxyConfig): Found[] {
  const { header_timeout_ms: headers, request_timeout_ms: whole } = config.client;
  if (whole !== 0 && headers > whole) {
    return [
      [
        ['client', 'header_timeout_ms'],
        `${headers} is longer than client.request_timeout_ms (${whole}), which includes the headers`,
      ],
    ];
  }
  return [];
}

function checkListeners(config: ProxyConfig, options: ValidateOptions): Found[] {
  const found: Found[] = [];
  const seen = new Map<string, string>();
  const addresses: [Path, string][] = config.listeners.map((l, i) => [
    ['listeners', i, 'address'],
    l.address,
  ]);
  if (config.health.address !== '') addresses.push([['health', 'address'], config.health.address]);
  for (const [path, text] of addresses) {
    const parsed = parseListenAddress(text);
    if ('error' in parsed) continue; // already reported by the schema
    if (isWildcardHost(parsed.host) && !options.allowWildcardBind) {
      found.push([
        path,
        `${text} listens on every interface; pass --allow-wildcard-bind if that is intended`,
      ]);
    }
    const key = formatAddress(parsed.host, parsed.port);
    const previous = seen.get(key);
    if (parsed.port !== 0 && previous !== undefined) {
      found.push([path, `${text} is already used by ${previous}`]);
    }
    seen.set(key, formatPath(path));
  }
  return found;
}

function checkSocketPaths(config: ProxyConfig): Found[] {
  const { socket } = config.admin;
  if (socket !== '' && socket === config.health.socket) {
    return [[['health', 'socket'], 'must differ from admin.socket']];
  }
  return [];
}

function checkSites(sites: readonly SiteConfig[]): Found[] {
  const found: Found[] = [];
  const names = new Map<string, number>();
  const hosts = new Map<string, number>();
  let totalRoutes = 0;
  sites.forEach((site, i) => {
    const sameName = names.get(site.name);
    if (sameName !== undefined) {
      found.push([['sites', i, 'name'], `"${site.name}" is already used by sites[${sameName}]`]);
    } else names.set(site.name, i);
    site.hosts.forEach((host, h) => {
      const owner = hosts.get(host);
      if (owner === undefined) hosts.set(host, i);
      else {
        const who = owner === i ? 'this site' : `site "${sites[owner]?.name}" (sites[${owner}])`;
        found.push([['sites', i, 'hosts', h], `"${host}" is already claimed by ${who}`]);
      }
    });
    // Two routes with the same path, match kind and conditions: the second could never match.
    const keys = new Map<string, number>();
    site.routes.forEach((route, r) => {
      const key = routeKey(route);
      const same = keys.get(key);
      if (same !== undefined) {
        found.push([
          ['sites', i, 'routes', r, 'path'],
          `"${key}" is already routed by routes[${same}] of this site`,
        ]);
      } else keys.set(key, r);
    });
    totalRoutes += site.routes.length;
  });
  if (totalRoutes > LIMITS.maxTotalRoutes) {
    found.push([
      ['sites'],
      `${totalRoutes} routes in all is over the ${LIMITS.maxTotalRoutes} limit`,
    ]);
  }
  return found;
}

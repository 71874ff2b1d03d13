import Joi from 'joi';
import type { ProxyConfig, ServiceUpstreamConfig, UpstreamEntryConfig } from './types.ts';

/**
 * The `{service, port, weight}` upstream entry (issue 22): the endpoints of a Service of the
 * pod's own namespace, delivered by an endpoint source (the sidecar, or a file: docs/config.md,
 * "Service upstreams"). The config only names the Service; the addresses never enter it.
 */

/** A Service name is a DNS-1035 label (Kubernetes validates Service names so). */
const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/**
 * A port name of a Service: a DNS-1123 label with at least one letter (IANA_SVC_NAME), so that
 * `"8080"` is never taken for a name (the file's entries are found by String(port)).
 */
const PORT_NAME = /^(?=[-a-z0-9]*[a-z])[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PORT_MESSAGE =
  "must be a port name of the Service (a DNS-1123 label with a letter) or the endpoints' port number (1-65535)";

function isPortValue(value: unknown): value is string | number {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 && value <= 65_535;
  return typeof value === 'string' && PORT_NAME.test(value);
}

export const serviceEntrySchema = Joi.object({
  service: Joi.string().pattern(DNS_1035).required().messages({
    'string.pattern.base':
      'must be a Service name of the pod\'s namespace (a DNS-1035 label: a-z, 0-9, "-", at most 63, starting with a letter)',
    'string.base': 'must be a Service name',
  }),
  port: Joi.any()
    .required()
    .custom((value: unknown, helpers) =>
      isPortValue(value) ? value : helpers.message({ custom: PORT_MESSAGE }),
    ),
  weight: Joi.number().integer().min(1).max(1_000).default(1),
});

export function isServiceEntry(entry: UpstreamEntryConfig): entry is ServiceUpstreamConfig {
  return 'service' in entry;
}

/** How the endpoint table and the endpoints file name one (service, port): `users\0http`. */
export function serviceKey(service: string, port: string | number): string {
  return `${service}\0${String(port)}`;
}

/** `users:http`, as logs, `diff` and errors show a service entry. */
export function serviceLabel(entry: ServiceUpstreamConfig): string {
  return `service ${entry.service}:${String(entry.port)}`;
}

/** A list's service entries naming the same (service, port) twice: the second one's index. */
export function duplicateService(list: readonly UpstreamEntryConfig[]): string | undefined {
  const seen = new Set<string>();
  for (const entry of list) {
    if (!isServiceEntry(entry)) continue;
    const key = serviceKey(entry.service, entry.port);
    if (seen.has(key)) return serviceLabel(entry);
    seen.add(key);
  }
  return undefined;
}

type Found = [readonly (string | number)[], string];

/**
 * The rule a service entry adds across keys: an endpoint source must exist (`--endpoints-file`,
 * which the chart passes when the sidecar runs in API mode).
 */
export function checkServiceEntries(config: ProxyConfig, endpointSource: boolean): Found[] {
  const found: Found[] = [];
  config.sites.forEach((site, s) => {
    site.routes.forEach((route, r) => {
      const list = route.upstreams ?? [];
      list.forEach((entry, u) => {
        if (!isServiceEntry(entry)) return;
        const at = ['sites', s, 'routes', r, 'upstreams', u, 'service'];
        if (!endpointSource) {
          found.push([
            at,
            'needs an endpoint source: run with the sidecar (the chart passes --endpoints-file) or pass --endpoints-file',
          ]);
        }
      });
    });
  });
  return found;
}

import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { countConditions } from './endpoint-file.ts';
import type { EndpointsFileData } from './endpoint-file.ts';

/**
 * The endpoint source's figures (issue 22), kept by the process that reads the file: the single
 * process, or the primary of several workers (its registry is merged with theirs, which never
 * set these; `first` keeps the primary's value).
 */
export class EndpointMetrics {
  readonly #endpoints: Gauge<'service' | 'port' | 'condition'>;
  readonly #updates: Counter<'outcome'>;
  readonly #lastUpdate: Gauge;

  constructor(registry: Registry) {
    this.#endpoints = new Gauge({
      name: 'reverse_proxy_service_endpoints',
      help: 'Endpoints of each (service, port) in the last accepted endpoints file, by condition (ready, serving, terminating; one endpoint may count under several)',
      labelNames: ['service', 'port', 'condition'] as const,
      aggregator: 'first',
      registers: [registry],
    });
    this.#updates = new Counter({
      name: 'reverse_proxy_endpoint_updates_total',
      help: 'Endpoint updates by outcome: applied, failed (the file was unreadable or invalid; the previous endpoints stay)',
      labelNames: ['outcome'] as const,
      aggregator: 'first',
      registers: [registry],
    });
    this.#lastUpdate = new Gauge({
      name: 'reverse_proxy_endpoints_last_update_timestamp_seconds',
      help: 'Unix time of the last endpoint update applied (0: none yet)',
      aggregator: 'first',
      registers: [registry],
    });
    this.#updates.inc({ outcome: 'applied' }, 0);
    this.#updates.inc({ outcome: 'failed' }, 0);
  }

  applied(data: EndpointsFileData): void {
    this.#updates.inc({ outcome: 'applied' });
    this.#lastUpdate.set(Date.now() / 1000);
    this.#endpoints.reset();
    for (const s of data.services) {
      const labels = { service: s.service, port: String(s.port) };
      const { ready, serving, terminating } = countConditions(s.endpoints);
      this.#endpoints.set({ ...labels, condition: 'ready' }, ready);
      this.#endpoints.set({ ...labels, condition: 'serving' }, serving);
      this.#endpoints.set({ ...labels, condition: 'terminating' }, terminating);
    }
  }

  failed(): void {
    this.#updates.inc({ outcome: 'failed' });
  }
}

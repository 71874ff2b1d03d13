import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The sidecar's metrics: one registry for the life of the process. */
export class SidecarMetrics {
  readonly registry = new Registry();

  readonly lastReloadSuccessful = new Gauge({
    name: 'reverse_proxy_sidecar_last_reload_successful',
    help: '1 if the last delivered config was reloaded and confirmed (or none was tried yet), 0 if it failed',
    registers: [this.registry],
  });

  readonly lastReloadTimestamp = new Gauge({
    name: 'reverse_proxy_sidecar_last_reload_timestamp_seconds',
    help: 'Unix time of the last confirmed reload (0: none yet)',
    registers: [this.registry],
  });

  readonly deliveries = new Counter({
    name: 'reverse_proxy_sidecar_deliveries_total',
    help: 'Valid configs handled, by result (written: --config-out replaced; unchanged: it already held these bytes)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly bakes = new Counter({
    name: 'reverse_proxy_sidecar_bakes_total',
    help: 'Guarded rollout bakes by result (clean: promoted; regressed: rolled back; interrupted: a newer config or shutdown came first)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly rollbacks = new Counter({
    name: 'reverse_proxy_sidecar_rollbacks_total',
    help: 'Configs rolled back after a regression, by the figure that regressed (error_ratio, upstream_error_ratio, p99)',
    labelNames: ['figure'] as const,
    registers: [this.registry],
  });

  readonly servingLastGood = new Gauge({
    name: 'reverse_proxy_sidecar_serving_last_good',
    help: '1 while the proxy serves the last good config because the watched one cannot be served (invalid, rolled back, or baking on another pod)',
    registers: [this.registry],
  });

  readonly rejections = new Counter({
    name: 'reverse_proxy_sidecar_rejections_total',
    help: 'Configs refused before delivery, by reason (invalid, parse, too_large, key_missing)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly writeErrors = new Counter({
    name: 'reverse_proxy_sidecar_write_errors_total',
    help: 'Failed attempts to write --config-out (retried with back-off)',
    registers: [this.registry],
  });

  readonly reloadErrors = new Counter({
    name: 'reverse_proxy_sidecar_reload_errors_total',
    help: 'Failed reload attempts, by reason (unreachable, untrusted, protocol, rejected, not_confirmed)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly reloads = new Counter({
    name: 'reverse_proxy_sidecar_reloads_total',
    help: 'Reloads by final result (confirmed, failed: gave up after retries)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly certificateReloads = new Counter({
    name: 'reverse_proxy_sidecar_certificate_reloads_total',
    help: 'Changes seen in a --tls-dir, by result (reloaded, rejected: the new files fail validation and nothing was reloaded, failed: the reload failed, no_config: nothing delivered yet)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly watchRestarts = new Counter({
    name: 'reverse_proxy_sidecar_watch_restarts_total',
    help: 'Watch restarts by reason (closed, gone, forbidden, error, stall, fs_error)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly lastContact = new Gauge({
    name: 'reverse_proxy_sidecar_last_contact_timestamp_seconds',
    help: 'Unix time of the last successful contact with the Kubernetes API or the watched volume',
    registers: [this.registry],
  });

  readonly kubeEvents = new Counter({
    name: 'reverse_proxy_sidecar_kube_events_total',
    help: 'Kubernetes Events the sidecar tried to post, by reason and result (posted, failed)',
    labelNames: ['reason', 'result'] as const,
    registers: [this.registry],
  });

  readonly serviceEndpoints = new Gauge({
    name: 'reverse_proxy_sidecar_service_endpoints',
    help: 'Endpoints of each (service, port) the config names, as last written to --endpoints-file, by condition (ready, serving, terminating)',
    labelNames: ['service', 'port', 'condition'] as const,
    registers: [this.registry],
  });

  readonly endpointProblems = new Gauge({
    name: 'reverse_proxy_sidecar_endpoint_problems',
    help: '(service, port) pairs the config names that cannot be resolved (a port the slices lack, a Service without EndpointSlices)',
    registers: [this.registry],
  });

  readonly endpointUpdates = new Counter({
    name: 'reverse_proxy_sidecar_endpoint_updates_total',
    help: 'Endpoint updates by outcome (sent: written and applied by the proxy; unchanged: nothing the proxy uses changed; rejected: the proxy refused the file; unreachable: no proxy to tell, it reads the file at start; write_failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly endpointsLastUpdate = new Gauge({
    name: 'reverse_proxy_sidecar_endpoints_last_update_timestamp_seconds',
    help: 'Unix time of the last endpoints update the proxy applied (0: none yet)',
    registers: [this.registry],
  });

  readonly endpointUpdateSeconds = new Histogram({
    name: 'reverse_proxy_sidecar_endpoint_update_seconds',
    help: "From the first EndpointSlice change of an update to the proxy's reply to the endpoints command (debounce included)",
    buckets: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });

  readonly endpointWatchRestarts = new Counter({
    name: 'reverse_proxy_sidecar_endpointslice_watch_restarts_total',
    help: 'EndpointSlice list+watch restarts by reason (closed, quick_close, gone, restart: the config names other Services, failed)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.lastReloadSuccessful.set(1);
    this.lastReloadTimestamp.set(0);
    this.endpointsLastUpdate.set(0);
  }
}

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { RequestMetrics } from './request-metrics.ts';
import type { SeriesKey } from './request-metrics.ts';
import type { PoolFigures } from './upstream/origin-pool.ts';
import type { RateLimitFigures } from './rate-limit/process-limiter.ts';
import type { CertificateSet } from './tls/certificates.ts';
import type { TargetState } from './upstream/target-state.ts';
import type { UpstreamRegistry } from './upstream/upstream-registry.ts';

const UNMATCHED: SeriesKey = Object.freeze({ site: '', path: '' });

/** The proxy's metrics: one registry for the life of the process. */
export class ProxyMetrics {
  readonly registry = new Registry();

  /** requests_total and the duration histogram, counted without a label lookup per request. */
  readonly #requests = new RequestMetrics(
    this.registry,
    {
      requests: 'reverse_proxy_requests_total',
      duration: 'reverse_proxy_request_duration_seconds',
    },
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );

  readonly upstreamErrors = new Counter({
    name: 'reverse_proxy_upstream_errors_total',
    help: 'Failed upstream exchanges by site, route and reason (refused, reset, timeout, dns, protocol, busy, no_endpoints = a service route without endpoints, other)',
    labelNames: ['site', 'route', 'reason'] as const,
    registers: [this.registry],
  });

  readonly reloads = new Counter({
    name: 'reverse_proxy_config_reloads_total',
    aggregator: 'first',
    help: 'Reload attempts by result (applied, unchanged, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly reloadFailures = new Counter({
    name: 'reverse_proxy_config_reload_failures_total',
    aggregator: 'first',
    help: 'Failed reloads by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly generation = new Gauge({
    name: 'reverse_proxy_config_generation',
    aggregator: 'first',
    help: 'Generation of the serving config (1 at start, +1 per applied reload)',
    registers: [this.registry],
  });

  readonly lastReloadSuccessful = new Gauge({
    name: 'reverse_proxy_config_last_reload_successful',
    aggregator: 'first',
    help: '1 if the last reload succeeded (or none was tried), 0 if it failed',
    registers: [this.registry],
  });

  readonly lastReloadSuccessTimestamp = new Gauge({
    name: 'reverse_proxy_config_last_reload_success_timestamp_seconds',
    aggregator: 'first',
    help: 'Unix time of the last successful load or reload',
    registers: [this.registry],
  });

  readonly sites = new Gauge({
    name: 'reverse_proxy_config_sites',
    aggregator: 'first',
    help: 'Number of sites in the serving config',
    registers: [this.registry],
  });

  readonly workers = new Gauge({
    name: 'reverse_proxy_workers',
    help: 'Worker processes running and serving (1 when the proxy runs as one process)',
    aggregator: 'first',
    registers: [this.registry],
  });

  readonly workerRestarts = new Counter({
    name: 'reverse_proxy_worker_restarts_total',
    help: 'Workers replaced: they died (reason exit or signal), or could not apply a reload (apply_failed)',
    labelNames: ['reason'] as const,
    aggregator: 'first',
    registers: [this.registry],
  });

  readonly draining = new Gauge({
    name: 'reverse_proxy_draining',
    aggregator: 'first',
    help: '1 while the proxy drains before exit',
    registers: [this.registry],
  });

  /** One response of a route (a frozen Route object is its own cache key). */
  recordRequest(route: SeriesKey, status: number, seconds: number | undefined): void {
    this.#requests.record(route, status, seconds);
  }

  /** A request that matched no route, or was refused before matching: site="" route="". */
  countUnmatched(status: number): void {
    this.#requests.record(UNMATCHED, status, undefined);
  }

  /** `compress: true` (issue 21): responses compressed, and their bytes before and after. */
  readonly compressedResponses = new Counter({
    name: 'reverse_proxy_compressed_responses_total',
    help: 'Responses compressed by a route with compress: true, by site, route and encoding (br, gzip)',
    labelNames: ['site', 'route', 'encoding'] as const,
    registers: [this.registry],
  });

  readonly compressionBytes = new Counter({
    name: 'reverse_proxy_compression_bytes_total',
    help: 'Body bytes of compressed responses as the upstream sent them (stage="in") and as the client got them (stage="out"), by site and route',
    labelNames: ['site', 'route', 'stage'] as const,
    registers: [this.registry],
  });

  recordCompression(route: SeriesKey, c: { coding: string; bytesIn: number; bytesOut: number }) {
    this.compressedResponses.inc({ site: route.site, route: route.path, encoding: c.coding });
    this.compressionBytes.inc({ site: route.site, route: route.path, stage: 'in' }, c.bytesIn);
    this.compressionBytes.inc({ site: route.site, route: route.path, stage: 'out' }, c.bytesOut);
  }

  readonly refusals = new Counter({
    name: 'reverse_proxy_refusals_total',
    help: 'Requests refused by a route gate, by site, route and reason (forbidden, rate_limited, body_too_large, unauthorized, auth_denied, auth_unavailable, auth_timeout, auth_busy)',
    labelNames: ['site', 'route', 'reason'] as const,
    registers: [this.registry],
  });

  readonly basicAuthFailures = new Counter({
    name: 'reverse_proxy_basic_auth_failures_total',
    help: 'Requests to an access.basic_auth route whose credentials were wrong (unknown user, wrong password, malformed header); requests without credentials are not counted',
    labelNames: ['site', 'route'] as const,
    registers: [this.registry],
  });

  readonly clientTimeouts = new Counter({
    name: 'reverse_proxy_client_timeouts_total',
    help: 'Client connections closed for a slow request body: body_idle (nothing for client.body_idle_timeout_ms), body_rate (under client.body_min_rate_bytes_per_s over 10 s)',
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });

  readonly tlsHandshakeFailures = new Counter({
    name: 'reverse_proxy_tls_handshake_failures_total',
    help: 'Failed TLS handshakes by reason (not_tls, protocol_version, no_shared_cipher, client_alert, reset, timeout, other)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** The serving certificates' expiry, read at scrape time so a reload's rotation shows at once. */
  observeCertificates(current: () => CertificateSet): void {
    new Gauge({
      name: 'reverse_proxy_tls_certificate_warnings',
      help: 'Certificate problems of the serving config: pairs served although expired or not yet valid, broken ones kept at their previous version or set aside (the log lists them)',
      aggregator: 'max',
      registers: [this.registry],
      collect() {
        this.set(current().warnings.length);
      },
    });
    new Gauge({
      name: 'reverse_proxy_tls_certificate_not_after_timestamp_seconds',
      help: 'Unix time at which each loaded certificate expires, by its file and subject',
      labelNames: ['cert_file', 'subject'] as const,
      // Every worker serves the same certificates: one figure, not their sum.
      aggregator: 'max',
      registers: [this.registry],
      collect() {
        this.reset();
        for (const cert of current().list) {
          const subject = cert.subject.replaceAll('\n', ', ');
          this.set({ cert_file: cert.certFile, subject }, cert.notAfter.getTime() / 1000);
        }
      },
    });
  }

  /** The rate limits' buckets (rate-limit/), read at scrape time; summed over the processes. */
  observeRateLimits(figures: () => RateLimitFigures): void {
    new Gauge({
      name: 'reverse_proxy_rate_limit_buckets',
      help: 'Token buckets held for rate_limit, one per scope and key (at most 100,000 per process; with several workers the primary holds them)',
      registers: [this.registry],
      collect() {
        this.set(figures().buckets);
      },
    });
    new Counter({
      name: 'reverse_proxy_rate_limit_evictions_total',
      help: 'Buckets dropped before they had refilled because the table was full (the least recently used goes; its key starts again with a full burst)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(figures().evictions);
      },
    });
    new Counter({
      name: 'reverse_proxy_rate_limit_lease_timeouts_total',
      help: 'Token leases a worker asked of the primary that were not answered within 250 ms (the worker then decided with its share of the limit for 1 s)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(figures().leaseTimeouts);
      },
    });
  }

  /** Reads each origin's pool at scrape time (the engine is created after the metrics). */
  observePools(pools: () => readonly PoolFigures[], maxConnections: number): void {
    const series = (
      name: string,
      help: string,
      pick: (p: PoolFigures) => number,
    ): Gauge<'origin'> =>
      new Gauge({
        name,
        help,
        labelNames: ['origin'] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const pool of pools()) this.set({ origin: pool.origin }, pick(pool));
        },
      });
    series(
      'reverse_proxy_upstream_pool_connections',
      'Open connections to each upstream origin',
      (p) => p.connected,
    );
    series(
      'reverse_proxy_upstream_pool_queued_requests',
      'Requests waiting for a connection to each upstream origin (upstream_pool.max_queued bounds them)',
      (p) => p.queued,
    );
    series(
      'reverse_proxy_upstream_pool_in_flight_requests',
      'Requests to each upstream origin started and not yet over, waiting ones included',
      (p) => p.inFlight,
    );
    new Gauge({
      name: 'reverse_proxy_upstream_pool_max_connections',
      help: 'upstream_pool.max_connections: the cap on connections per upstream origin (shared out among the workers)',
      aggregator: 'max',
      registers: [this.registry],
    }).set(maxConnections);
  }

  /**
   * Per upstream of each route (labels site, route, upstream = the URL as configured), read
   * from the registry's plain counters at scrape time, like the pool figures.
   */
  observeUpstreams(registry: UpstreamRegistry): void {
    const labels = ['site', 'route', 'upstream'] as const;
    const of = (s: TargetState) => ({ site: s.site, route: s.route, upstream: s.target.url });
    const counter = (name: string, help: string, pick: (s: TargetState) => number) =>
      new Counter({
        name,
        help,
        labelNames: labels,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const s of registry.states()) this.inc(of(s), pick(s));
        },
      });
    counter(
      'reverse_proxy_upstream_requests_total',
      'Attempts sent to each upstream of each route (retries included)',
      (s) => s.requests,
    );
    counter(
      'reverse_proxy_upstream_ejections_total',
      'Times passive health took an upstream out of its route for passive_health.ejection_ms',
      (s) => s.ejections,
    );
    counter(
      'reverse_proxy_upstream_retries_total',
      'Retries after a failed attempt at this upstream',
      (s) => s.retries,
    );
    counter(
      'reverse_proxy_upstream_retries_refused_total',
      'Retries the route allowed but its budget (retries.budget_percent) refused, by the upstream that failed',
      (s) => s.retriesRefused,
    );
    new Counter({
      name: 'reverse_proxy_upstream_failures_total',
      help: 'Failed attempts by upstream and reason (refused, connect_timeout, reset, timeout, dns, protocol, bad_status = it answered 502/503/504, other)',
      labelNames: [...labels, 'reason'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of registry.states()) {
          for (const [reason, n] of s.failures) this.inc({ ...of(s), reason }, n);
        }
      },
    });
    new Gauge({
      name: 'reverse_proxy_upstream_healthy',
      help: '1 while the upstream takes traffic (active check passing, not ejected), else 0; with several workers, 1 only when every worker sends it traffic',
      labelNames: labels,
      aggregator: 'min',
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const s of registry.states()) this.set(of(s), s.available(now) ? 1 : 0);
      },
    });
    new Counter({
      name: 'reverse_proxy_route_panic_requests_total',
      help: 'Requests sent while every upstream of the route was unhealthy (tried anyway)',
      labelNames: ['site', 'route'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const r of registry.routes()) this.inc({ site: r.site, route: r.route }, r.panics);
      },
    });
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.lastReloadSuccessful.set(1);
  }
}

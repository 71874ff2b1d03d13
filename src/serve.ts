import { setTimeout as sleep } from 'node:timers/promises';
import { AggregatorRegistry } from 'prom-client';
import { checkConfig } from './config/check.ts';
import { loadConfigBytes } from './config/load.ts';
import { applyInstanceOverrides } from './config/instance-overrides.ts';
import type { InstanceOverrides } from './config/instance-overrides.ts';
import { Reloader } from './config/reloader.ts';
import type { ApplyReport } from './config/reloader.ts';
import { compileSnapshot } from './config/snapshot.ts';
import type { Snapshot } from './config/snapshot.ts';
import { ConfigStore } from './config/store.ts';
import { formatIssue } from './errors.ts';
import type { ConfigIssue } from './errors.ts';
import { createLogger } from './log.ts';
import type { Logger } from './log.ts';
import { startManagement } from './management.ts';
import type { MetricsSource } from './health/metrics-route.ts';
import { ProxyMetrics } from './metrics.ts';
import type { CloseOutcome } from './proxy/listeners.ts';
import { resolveWorkers } from './workers/worker-count.ts';
import { EndpointMetrics } from './endpoints/endpoint-metrics.ts';
import { EndpointSource } from './endpoints/endpoint-source.ts';
import type { EndpointsFileData } from './endpoints/endpoint-file.ts';
import { WorkerSet } from './workers/worker-set.ts';
import type { WorkerStatus } from './workers/worker-set.ts';

export interface ServeOptions {
  readonly configPath: string;
  readonly allowWildcardBind: boolean;
  /** `--admin-socket`, `--health-address`, `--workers`: this process's own static values. */
  readonly overrides?: InstanceOverrides | undefined;
  /** `--endpoints-file`: where `service:` upstreams get their endpoints (issue 22). */
  readonly endpointsFile?: string | undefined;
}

export type ServeFlags = ServeOptions;

/** A running proxy: what `main` needs to stop it. */
export interface RunningProxy {
  readonly log: Logger;
  readonly reloader: Reloader;
  shutdown(reason: string): Promise<void>;
  /** Logs "proxy started"; called once signals are wired, so a SIGHUP sent on seeing it counts. */
  announce(): void;
}

/**
 * What serves traffic, seen from the side that loads config: this process's own data path
 * (`workers: 1`), or worker processes the primary coordinates.
 */
interface Serving {
  readonly bound: readonly string[];
  readonly metrics: MetricsSource;
  notReady(generation: number): string[];
  /** `compileMs`: how long the primary took to compile it (the workers' deadline scales). */
  apply(next: Snapshot, compileMs: number): Promise<ApplyReport>;
  /** An endpoint update: resolves once every process serving traffic applied it. */
  applyEndpoints(data: EndpointsFileData): Promise<void>;
  startDraining(): void;
  close(graceMs: number): Promise<CloseOutcome>;
  workers?(): WorkerStatus[];
}

/**
 * Starts the proxy: load and validate the config (any error stops the start), bind every
 * listener (here, or in each worker), then health and the admin socket. Signals are wired by
 * the caller (cli.ts).
 */
export async function startProxy(options: ServeOptions): Promise<RunningProxy> {
  const validateOptions = {
    allowWildcardBind: options.allowWildcardBind,
    endpointSource: options.endpointsFile !== undefined,
  };
  const startedAt = Date.now();
  const file = await loadConfigBytes(options.configPath);
  const { config, certificates, htpasswd, pages } = checkConfig(
    file.bytes,
    options.configPath,
    validateOptions,
  );
  const log = createLogger(config.log.level);
  logCertificateWarnings(log, certificates.warnings);
  const initial = compileSnapshot(config, file.sha256, 1, certificates, htpasswd, pages);
  const store = new ConfigStore(initial);
  const metrics = new ProxyMetrics();
  metrics.generation.set(1);
  metrics.sites.set(config.sites.length);
  metrics.lastReloadSuccessTimestamp.set(Date.now() / 1000);
  const workers = resolveWorkers(options.overrides?.workers ?? config.workers);
  const endpoints =
    options.endpointsFile === undefined
      ? undefined
      : new EndpointSource(options.endpointsFile, log, new EndpointMetrics(metrics.registry));
  const initialEndpoints = await endpoints?.initial();
  const serving =
    workers.count > 1
      ? await startWorkers(initial, workers.count, log, metrics, initialEndpoints)
      : await startOneProcess(initial, log, metrics, initialEndpoints);
  endpoints?.serveTo((data) => serving.applyEndpoints(data));

  let draining = false;
  const reloader = new Reloader({
    path: options.configPath,
    validateOptions,
    store,
    startup: config,
    log,
    metrics,
    apply: async (next, compileMs) => {
      const report = await serving.apply(next, compileMs);
      store.swap(next);
      return report;
    },
  });
  let management;
  try {
    // After the listeners: readiness then already reflects them, and the admin socket is only
    // offered by a proxy that serves.
    management = await startManagement({
      // Only the admin socket and health listener use the per-process values; reloads still
      // compare the file's static keys with the file's, so an override is no "restart needed".
      config: applyInstanceOverrides(config, options.overrides ?? {}),
      store,
      reloader,
      metrics: serving.metrics,
      log,
      startedAt,
      workers: serving.workers,
      endpoints,
      notReady: () => [
        ...serving.notReady(store.current().generation),
        ...(draining ? ['draining'] : []),
      ],
    });
  } catch (err) {
    await serving.close(0);
    throw err;
  }
  const { healthAddress, healthSocket, adminSocket } = management;
  const announce = () =>
    log.info(
      {
        listeners: serving.bound,
        health: healthAddress,
        health_socket: healthSocket,
        admin_socket: adminSocket,
        sites: config.sites.length,
        sha256: file.sha256,
        workers: workers.count,
        workers_from: workers.source,
        ...(serving.workers === undefined
          ? {}
          : { worker_pids: serving.workers().map((w) => w.pid) }),
      },
      'proxy started',
    );

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      draining = true;
      metrics.draining.set(1);
      serving.startDraining();
      const { drain_delay_ms: delay, grace_period_ms: grace } = config.shutdown;
      log.info({ reason, drain_delay_ms: delay, grace_period_ms: grace }, 'draining');
      // Readiness is already 503; the delay lets load balancers notice before we stop accepting.
      if (delay > 0) await sleep(delay);
      const outcome = await serving.close(grace);
      // Last: the admin socket answers `status` while draining; closing it removes the file.
      management.close();
      log.info(
        { outcome },
        outcome === 'drained' ? 'stopped: drained' : 'stopped: grace period over, connections cut',
      );
    })();
    return stopping;
  };
  return { log, reloader, shutdown, announce };
}

/** Certificates served although expired, or set aside: the start goes on, and says so. */
function logCertificateWarnings(log: Logger, warnings: readonly ConfigIssue[]): void {
  if (warnings.length === 0) return;
  log.warn(
    { certificate_warnings: warnings.map(formatIssue) },
    'certificate problems: served or set aside as listed (docs/config.md, tls)',
  );
}

/** `workers: 1`: the data path runs in this process, as it always did. */
async function startOneProcess(
  initial: Snapshot,
  log: Logger,
  metrics: ProxyMetrics,
  endpoints: EndpointsFileData | undefined,
): Promise<Serving> {
  // Loaded here: a primary of several workers never serves traffic, and the engine's modules
  // (koffi among them) would only add to its memory.
  const { startDataPath } = await import('./data-path.ts');
  const path = await startDataPath(initial, log, metrics, {
    workers: 1,
    reusePort: false,
    endpoints,
  });
  metrics.workers.set(1);
  return {
    bound: path.bound,
    metrics: metrics.registry,
    notReady: () => (path.listening ? [] : ['listeners']),
    apply: async (next) => {
      path.apply(next);
      return {};
    },
    applyEndpoints: async (data) => path.applyEndpoints(data),
    startDraining: () => path.startDraining(),
    close: (graceMs) => path.close(graceMs),
  };
}

/**
 * Several workers: this process is their primary and never serves traffic. Its /metrics is
 * its own registry (reloads, generation: the primary's figures) merged with every worker's
 * (requests, upstreams, pools: summed), by prom-client's cluster aggregation.
 */
async function startWorkers(
  initial: Snapshot,
  count: number,
  log: Logger,
  metrics: ProxyMetrics,
  endpoints: EndpointsFileData | undefined,
): Promise<Serving> {
  const set = new WorkerSet(count, log, metrics);
  const bound = await set.start(initial, endpoints);
  const merged: MetricsSource = {
    contentType: metrics.registry.contentType,
    metrics: async () => {
      const all = [await metrics.registry.getMetricsAsJSON(), ...(await set.metrics())];
      return AggregatorRegistry.aggregate(all).metrics();
    },
  };
  return {
    bound,
    metrics: merged,
    notReady: (generation) => (set.serves(generation) ? [] : ['workers']),
    apply: (next, compileMs) => set.apply(next, compileMs),
    applyEndpoints: (data) => set.applyEndpoints(data),
    startDraining: () => set.drain(),
    close: (graceMs) => set.close(graceMs),
    workers: () => set.status(),
  };
}

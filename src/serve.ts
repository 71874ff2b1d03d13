import { setTimeout as sleep } from 'node:timers/promises';
import { parseListenAddress } from './config/address.ts';
import type { ListenAddress } from './config/address.ts';
import { checkConfig } from './config/check.ts';
import { loadConfigBytes } from './config/load.ts';
import { applyInstanceOverrides } from './config/instance-overrides.ts';
import type { InstanceOverrides } from './config/instance-overrides.ts';
import { Reloader } from './config/reloader.ts';
import { compileSnapshot } from './config/snapshot.ts';
import { ConfigStore } from './config/store.ts';
import { createLogger } from './log.ts';
import type { Logger } from './log.ts';
import { startManagement } from './management.ts';
import { ProxyMetrics } from './metrics.ts';
import { createProxyEngine, UPSTREAM_IDLE_MS } from './proxy/engine.ts';
import { UpstreamClient } from './upstream/upstream-client.ts';
import { BodyWatch } from './proxy/body-watch.ts';
import { ProxyListeners } from './proxy/listeners.ts';
import { TrustBoundary } from './proxy/trust-boundary.ts';
import { UpstreamRegistry } from './upstream/upstream-registry.ts';
import { handshakeFailureReason } from './tls/handshake-failures.ts';
import {
  createRequestHandler,
  createUpgradeFailureHandler,
  createUpgradeHandler,
} from './proxy/request-handler.ts';

export interface ServeOptions {
  readonly configPath: string;
  readonly allowWildcardBind: boolean;
  /** `--admin-socket`, `--health-address`: this process's own values for two static keys. */
  readonly overrides?: InstanceOverrides | undefined;
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
 * Starts the proxy: load and validate the config (any error stops the start), bind every
 * listener, then health and the admin socket. Signals are wired by the caller (cli.ts).
 */
export async function startProxy(options: ServeOptions): Promise<RunningProxy> {
  const validateOptions = { allowWildcardBind: options.allowWildcardBind };
  const startedAt = Date.now();
  const file = await loadConfigBytes(options.configPath);
  const { config, certificates } = checkConfig(file.bytes, options.configPath, validateOptions);
  const log = createLogger(config.log.level);
  const store = new ConfigStore(compileSnapshot(config, file.sha256, 1, certificates));
  const metrics = new ProxyMetrics();
  metrics.generation.set(1);
  metrics.sites.set(config.sites.length);
  metrics.lastReloadSuccessTimestamp.set(Date.now() / 1000);

  let draining = false;
  const client = new UpstreamClient({
    maxConnections: config.upstream_pool.max_connections,
    maxQueued: config.upstream_pool.max_queued,
    idleTimeoutMs: UPSTREAM_IDLE_MS,
  });
  const upstreams = new UpstreamRegistry(log, client);
  upstreams.reconcile(store.current().table);
  const engine = createProxyEngine(client, upstreams, createUpgradeFailureHandler(metrics, log));
  metrics.observePools(() => engine.pools(), config.upstream_pool.max_connections);
  metrics.observeUpstreams(upstreams);
  const bodies = new BodyWatch(
    {
      idleMs: config.client.body_idle_timeout_ms,
      minRate: config.client.body_min_rate_bytes_per_s,
    },
    (_req, why) => metrics.clientTimeouts.inc({ phase: why }),
  );
  const handlerDeps = {
    store,
    engine,
    metrics,
    log,
    accessLog: config.log.access_log,
    trust: new TrustBoundary(config.trusted_proxies),
    bodies,
    isDraining: () => draining,
  };
  const listeners = new ProxyListeners(
    createRequestHandler(handlerDeps),
    createUpgradeHandler(handlerDeps),
    config.client,
    {
      certificates: () => store.current().certificates,
      onHandshakeFailure: (err) =>
        metrics.tlsHandshakeFailures.inc({ reason: handshakeFailureReason(err) }),
    },
  );
  metrics.observeCertificates(() => store.current().certificates);
  const bound = await listeners.listen(
    config.listeners.map((l) => ({
      ...addressOf(l.address),
      tls: l.tls,
      http2: l.tls && l.http2 !== false,
    })),
  );

  const reloader = new Reloader({
    path: options.configPath,
    validateOptions,
    store,
    startup: config,
    log,
    metrics,
    onApplied: (next, previous) => {
      if (next.table !== previous.table) upstreams.reconcile(next.table);
      if (next.certificates !== previous.certificates) listeners.useCertificates(next.certificates);
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
      metrics,
      log,
      startedAt,
      notReady: () => [
        ...(listeners.listening ? [] : ['listeners']),
        ...(draining ? ['draining'] : []),
      ],
    });
  } catch (err) {
    await listeners.close(0);
    engine.close();
    upstreams.close();
    bodies.close();
    throw err;
  }
  const { healthAddress, healthSocket, adminSocket } = management;
  const announce = () =>
    log.info(
      {
        listeners: bound,
        health: healthAddress,
        health_socket: healthSocket,
        admin_socket: adminSocket,
        sites: config.sites.length,
        sha256: file.sha256,
      },
      'proxy started',
    );

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      draining = true;
      metrics.draining.set(1);
      const { drain_delay_ms: delay, grace_period_ms: grace } = config.shutdown;
      log.info({ reason, drain_delay_ms: delay, grace_period_ms: grace }, 'draining');
      // Readiness is already 503; the delay lets load balancers notice before we stop accepting.
      if (delay > 0) await sleep(delay);
      const outcome = await listeners.close(grace);
      upstreams.close();
      engine.close();
      bodies.close();
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

function addressOf(text: string): ListenAddress {
  const parsed = parseListenAddress(text);
  if ('error' in parsed) throw new Error(`unvalidated address ${text}`);
  return parsed;
}

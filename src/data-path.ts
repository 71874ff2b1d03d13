import { TLSSocket } from 'node:tls';
import { BasicAuthVerifier } from './access/basic-auth.ts';
import { BcryptPool, bcryptThreads } from './access/bcrypt-pool.ts';
import { parseListenAddress } from './config/address.ts';
import type { ListenAddress } from './config/address.ts';
import type { Snapshot } from './config/snapshot.ts';
import { ConfigStore } from './config/store.ts';
import type { Logger } from './log.ts';
import type { ProxyMetrics } from './metrics.ts';
import { BodyWatch } from './proxy/body-watch.ts';
import { createProxyEngine, UPSTREAM_IDLE_MS } from './proxy/engine.ts';
import { ProxyListeners } from './proxy/listeners.ts';
import type { CloseOutcome } from './proxy/listeners.ts';
import { createRequestHandler } from './proxy/request-handler.ts';
import { createUpgradeFailureHandler, createUpgradeHandler } from './proxy/upgrade-handler.ts';
import { TrustBoundary } from './proxy/trust-boundary.ts';
import { AccessLog } from './proxy/access-log.ts';
import { ForwardAuth } from './access/forward-auth.ts';
import { BucketTable } from './rate-limit/bucket-table.ts';
import type { ProcessLimiter } from './rate-limit/process-limiter.ts';
import { handshakeFailureReason } from './tls/handshake-failures.ts';
import { UpstreamClient } from './upstream/upstream-client.ts';
import { UpstreamRegistry } from './upstream/upstream-registry.ts';
import { EndpointTable } from './endpoints/endpoint-table.ts';
import type { EndpointsFileData } from './endpoints/endpoint-file.ts';

export interface DataPathOptions {
  /** The proxy's worker count: the upstream pool caps are shared out among them. */
  readonly workers: number;
  /**
   * Bind with SO_REUSEPORT: every worker has its own listening socket on the same address,
   * and the kernel spreads new connections over them.
   */
  readonly reusePort: boolean;
  /** The addresses to bind instead of the config's (workers after the first: ports resolved). */
  readonly addresses?: readonly string[] | undefined;
  /**
   * The rate limiter: a worker's leases from its primary's buckets. Default: this process's
   * own buckets (`workers: 1`), decided synchronously.
   */
  readonly limiter?: ProcessLimiter | undefined;
  /** The endpoint table to start with (`--endpoints-file`, read by the primary). */
  readonly endpoints?: EndpointsFileData | undefined;
}

/** The part of a proxy that serves traffic: listeners, routing, upstream pools and health. */
export interface DataPath {
  readonly store: ConfigStore;
  /** The listeners as bound, in config order (`127.0.0.1:8080`). */
  readonly bound: readonly string[];
  readonly listening: boolean;
  /** Serves `next` from now on; requests already routed keep the snapshot they took. */
  apply(next: Snapshot): void;
  /** Service routes take their targets from `data` from now on (no config revision). */
  applyEndpoints(data: EndpointsFileData): void;
  /** Responses ask clients to close from now on (shutdown has begun). */
  startDraining(): void;
  /** Stops accepting, drains within `graceMs`, then closes the upstream side. */
  close(graceMs: number): Promise<CloseOutcome>;
}

/**
 * Builds and binds the data path of one process from a compiled snapshot: the single
 * process of `workers: 1`, or one worker of several. Binds every listener or throws.
 */
export async function startDataPath(
  initial: Snapshot,
  log: Logger,
  metrics: ProxyMetrics,
  options: DataPathOptions,
): Promise<DataPath> {
  const { config } = initial;
  const store = new ConfigStore(initial);
  let draining = false;
  // "max_connections per origin" holds for the whole proxy: each worker gets its share.
  const share = (n: number) => Math.max(1, Math.ceil(n / options.workers));
  const client = new UpstreamClient({
    maxConnections: share(config.upstream_pool.max_connections),
    maxQueued: config.upstream_pool.max_queued === 0 ? 0 : share(config.upstream_pool.max_queued),
    idleTimeoutMs: UPSTREAM_IDLE_MS,
  });
  const upstreams = new UpstreamRegistry(log, client);
  // Before the first reconcile: service routes start on these endpoints.
  if (options.endpoints !== undefined)
    upstreams.applyEndpoints(new EndpointTable(options.endpoints));
  upstreams.reconcile(initial.table);
  const trust = new TrustBoundary(config.trusted_proxies);
  const access = new AccessLog(log, trust, config.log.access_log);
  const limiter = options.limiter ?? new BucketTable();
  metrics.observeRateLimits(() => limiter.figures());
  const engine = createProxyEngine(
    client,
    upstreams,
    createUpgradeFailureHandler(metrics, log, access, trust),
  );
  metrics.observePools(() => engine.pools(), config.upstream_pool.max_connections);
  metrics.observeUpstreams(upstreams);
  const bodies = new BodyWatch(
    {
      idleMs: config.client.body_idle_timeout_ms,
      minRate: config.client.body_min_rate_bytes_per_s,
    },
    (_req, why) => metrics.clientTimeouts.inc({ phase: why }),
  );
  // access.basic_auth: bcrypt on threads started at the first login, a login cache per process.
  const bcrypt = new BcryptPool(bcryptThreads(options.workers));
  const basicAuth = new BasicAuthVerifier({
    hasher: bcrypt,
    onFailure: (r) => metrics.basicAuthFailures.inc({ site: r.site, route: r.path }),
  });
  const handlerDeps = {
    store,
    engine,
    metrics,
    log,
    access,
    trust,
    gate: { trust, limiter, basicAuth, forwardAuth: new ForwardAuth(client, log) },
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
    (refusal, socket) =>
      access.writeRefusal(
        trust.hop(socket, socket instanceof TLSSocket ? 'https' : 'http'),
        refusal,
      ),
  );
  metrics.observeCertificates(() => store.current().certificates);
  const closeUpstreamSide = () => {
    upstreams.close();
    engine.close();
    bodies.close();
    bcrypt.close();
    limiter.close();
  };
  let bound: string[];
  try {
    bound = await listeners.listen(
      config.listeners.map((l, i) => ({
        ...addressOf(options.addresses?.[i] ?? l.address),
        tls: l.tls,
        http2: l.tls && l.http2 !== false,
        reusePort: options.reusePort,
      })),
    );
  } catch (err) {
    closeUpstreamSide();
    throw err;
  }
  return {
    store,
    bound,
    get listening() {
      return listeners.listening;
    },
    apply(next) {
      const previous = store.swap(next);
      if (next.table !== previous.table) upstreams.reconcile(next.table);
      if (next.certificates !== previous.certificates) listeners.useCertificates(next.certificates);
    },
    applyEndpoints(data) {
      upstreams.applyEndpoints(new EndpointTable(data, upstreams.endpoints));
    },
    startDraining() {
      draining = true;
    },
    async close(graceMs) {
      draining = true;
      const outcome = await listeners.close(graceMs);
      closeUpstreamSide();
      return outcome;
    },
  };
}

function addressOf(text: string): ListenAddress {
  const parsed = parseListenAddress(text);
  if ('error' in parsed) throw new Error(`unvalidated address ${text}`);
  return parsed;
}

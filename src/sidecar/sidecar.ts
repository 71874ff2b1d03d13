import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { GuardFlags } from '../commands/sidecar-guard-flags.ts';
import type { ListenAddress } from '../config/address.ts';
import { checkConfigBytes } from '../config/check.ts';
import { ConfigInvalidError, formatIssue } from '../errors.ts';
import type { ValidateOptions } from '../config/validate.ts';
import { listenHealth } from '../health/health-server.ts';
import type { Logger } from '../log.ts';
import { certificateRotation } from './certificate-rotation.ts';
import { ConfigDelivery } from './config-delivery.ts';
import type { ConfigMapRef, ConfigSource, SourceUpdate } from './config-source.ts';
import { watchConfigMap } from './configmap-watcher.ts';
import { startEndpointSource } from './endpoint-source.ts';
import type { EndpointSource } from './endpoint-source.ts';
import { createEventRecorder, noEvents } from './events.ts';
import { RELOAD_BACKOFF, reloadAndConfirm } from './reload-trigger.ts';
import type { AdminTarget } from './reload-trigger.ts';
import { buildSidecarHealthApp } from './sidecar-health.ts';
import { SidecarMetrics } from './sidecar-metrics.ts';
import { watchTlsDirs } from './tls-watcher.ts';
import type { TlsWatcher } from './tls-watcher.ts';
import { watchVolume } from './volume-watcher.ts';
import { BakeGuard } from './rollout/bake-guard.ts';
import { changeDescriber } from './rollout/change-summary.ts';
import type { ChangeDescription } from './rollout/change-summary.ts';
import { fetchFigures } from './rollout/figures.ts';
import { LastGoodStore } from './rollout/last-good-store.ts';
import { LeaseStore } from './rollout/lease-store.ts';
import { DIRECT_ROLLOUT, GuardedRollout } from './rollout/rollout.ts';
import type { Rollout } from './rollout/rollout.ts';
import type { EventRecorder } from './events.ts';
import { hostname } from 'node:os';

/** Where changes come from. */
export type SidecarMode =
  | { readonly kind: 'configmap'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'volume'; readonly dir: string };

export interface SidecarOptions {
  readonly mode: SidecarMode;
  readonly key: string;
  readonly configOut: string;
  readonly admin: AdminTarget;
  readonly validateOptions: ValidateOptions;
  readonly healthAddress: ListenAddress;
  readonly debounceMs: number;
  readonly stallTimeoutMs: number;
  readonly resyncMs: number;
  readonly reloadAttempts: number;
  /** Set in API mode, and in volume mode when Events are wanted (--events-configmap). */
  readonly kubeConfig?: KubeConfig | undefined;
  /** The ConfigMap Events are posted on; undefined: no Events. */
  readonly eventsObject?: ConfigMapRef | undefined;
  /** Mounted TLS Secret directories: a change re-validates --config-out and reloads. */
  readonly tlsDirs?: readonly string[] | undefined;
  /** The guarded rollout's settings; undefined: every valid config is applied at once. */
  readonly guard?: GuardFlags | undefined;
  /** --endpoints-file (API mode): watch the EndpointSlices of the Services the config names. */
  readonly endpoints?: { readonly path: string; readonly debounceMs: number } | undefined;
}

export interface RunningSidecar {
  /** The bound health address, `host:port`. */
  readonly healthAddress: string;
  stop(): Promise<void>;
}

// Health endpoints serve probes and scrapes only.
const HEALTH_MAX_CONNECTIONS = 16;

/**
 * Wires a watcher (API or volume) to the one ConfigDelivery and serves health. The health
 * server listens first, so probes get an answer (not ready yet) while the first sync runs.
 */
export async function startSidecar(options: SidecarOptions, log: Logger): Promise<RunningSidecar> {
  const metrics = new SidecarMetrics();
  const stopping = new AbortController();
  const events =
    options.kubeConfig === undefined || options.eventsObject === undefined
      ? noEvents
      : createEventRecorder({
          kubeConfig: options.kubeConfig,
          defaultObject: options.eventsObject,
          log,
          metrics,
          signal: stopping.signal,
        });
  const { mode, key } = options;
  const reload = (sha256: string, signal: AbortSignal) =>
    reloadAndConfirm(
      {
        target: options.admin,
        maxAttempts: options.reloadAttempts,
        backoff: RELOAD_BACKOFF,
        log,
        metrics,
      },
      sha256,
      signal,
    );
  // The delivery and the certificate rotation both reload from --config-out: one at a time, so
  // a rotation validates and reloads exactly the file in place, and never races a write.
  let turn: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const run = turn.then(work);
    turn = run.catch(() => undefined);
    return run;
  };
  const describeChange = changeDescriber(options.validateOptions);
  const rollout = guardedRollout(options, describeChange, events, log, metrics);
  // Endpoint churn goes its own way (file + `endpoints` command), never through the rollout.
  const endpointSource: EndpointSource | undefined =
    options.endpoints === undefined || mode.kind !== 'configmap' || options.kubeConfig === undefined
      ? undefined
      : startEndpointSource({
          kubeConfig: options.kubeConfig,
          namespace: mode.namespace,
          path: options.endpoints.path,
          debounceMs: options.endpoints.debounceMs,
          stallTimeoutMs: options.stallTimeoutMs,
          target: options.admin,
          events,
          log,
          metrics,
        });
  const delivery = new ConfigDelivery({
    exclusive,
    rollout: rollout.rollout,
    describeChange,
    configOut: options.configOut,
    sourceName:
      mode.kind === 'configmap'
        ? `configmap ${mode.namespace}/${mode.name}[${key}]`
        : `${mode.dir}/${key}`,
    validateOptions: options.validateOptions,
    debounceMs: options.debounceMs,
    reload,
    events,
    log,
    metrics,
    beforeApply: endpointSource?.beforeApply,
  });
  const startedAt = Date.now();
  let source: ConfigSource | undefined;
  // No contact for two stall periods means a restart of the watch did not help either.
  const livenessWindowMs =
    2 * Math.max(options.stallTimeoutMs, mode.kind === 'volume' ? options.resyncMs : 0);
  const notLive = (): string[] => {
    if (source === undefined) return ['not started'];
    const since = source.lastContactAt() || startedAt;
    const silentMs = Date.now() - since;
    return silentMs > livenessWindowMs
      ? [`no successful contact with ${source.description} for ${Math.round(silentMs / 1000)} s`]
      : [];
  };
  const app = buildSidecarHealthApp({
    notLive,
    notReady: () => delivery.notReady(),
    registry: metrics.registry,
  });
  const { server, bound } = await listenHealth(app, options.healthAddress, HEALTH_MAX_CONNECTIONS);
  const onUpdate = (update: SourceUpdate) => delivery.offer(update);
  if (mode.kind === 'configmap') {
    if (options.kubeConfig === undefined) throw new Error('API mode needs a kubeconfig');
    source = watchConfigMap({
      kubeConfig: options.kubeConfig,
      namespace: mode.namespace,
      name: mode.name,
      key,
      stallTimeoutMs: options.stallTimeoutMs,
      log,
      metrics,
      onUpdate,
    });
  } else {
    source = watchVolume({
      dir: mode.dir,
      key,
      resyncMs: options.resyncMs,
      log,
      metrics,
      onUpdate,
      object: options.eventsObject,
    });
  }
  const tlsDirs = options.tlsDirs ?? [];
  const rotate = certificateRotation({
    configOut: options.configOut,
    validateOptions: options.validateOptions,
    reload,
    events,
    log,
    metrics,
    signal: stopping.signal,
  });
  const tlsWatcher: TlsWatcher | undefined =
    tlsDirs.length === 0
      ? undefined
      : watchTlsDirs({
          dirs: tlsDirs,
          resyncMs: options.resyncMs,
          settleMs: options.debounceMs,
          log,
          metrics,
          onChange: (dirs) => {
            // A ConfigMap change refused for the old files gets its chance with the new ones.
            if (delivery.recheckRefused()) {
              log.info({ dirs }, 'TLS files changed: checking the refused config again');
            }
            return exclusive(() => rotate(dirs));
          },
        });
  log.info(
    {
      source: source.description,
      tls_dirs: tlsDirs,
      key,
      config_out: options.configOut,
      socket: options.admin.socketPath,
      health: bound,
      events: events === noEvents ? 'off' : 'on',
      guard: rollout.description,
      endpoints_file: options.endpoints?.path,
    },
    'sidecar started',
  );
  const running = source;
  return {
    healthAddress: bound,
    stop: async () => {
      stopping.abort();
      rollout.rollout.stop();
      rollout.guard?.stop();
      await running.stop();
      await endpointSource?.stop();
      await tlsWatcher?.stop();
      await delivery.stop();
      await events.flush();
      await closeServer(server);
    },
  };
}

/**
 * The guarded rollout the flags ask for: none (--guard off), this pod alone (volume mode, or
 * API mode without --rollout-lease), or coordinated through the Lease and the last good
 * ConfigMap (API mode). Figures come from the proxy's health listener on the pod's loopback.
 */
function guardedRollout(
  options: SidecarOptions,
  describeChange: (from: Buffer, to: Buffer) => ChangeDescription,
  events: EventRecorder,
  log: Logger,
  metrics: SidecarMetrics,
): { rollout: Rollout; guard: BakeGuard | undefined; description: string } {
  const flags = options.guard;
  if (flags === undefined) return { rollout: DIRECT_ROLLOUT, guard: undefined, description: 'off' };
  const guard = new BakeGuard(
    (signal) => fetchFigures(flags.proxyMetrics, signal),
    {
      bakeMs: flags.bakeMs,
      baselineMs: flags.baselineMs,
      sampleMs: flags.sampleMs,
      thresholds: flags.thresholds,
    },
    log,
  );
  guard.start();
  const { mode, kubeConfig } = options;
  const coordinated =
    mode.kind === 'configmap' &&
    kubeConfig !== undefined &&
    flags.lease !== undefined &&
    flags.lastGood !== undefined;
  const rollout = new GuardedRollout({
    guard,
    lease: coordinated
      ? new LeaseStore(kubeConfig, mode.namespace, flags.lease as string, flags.leaseDurationS)
      : undefined,
    lastGood: coordinated
      ? new LastGoodStore(kubeConfig, mode.namespace, flags.lastGood as string, options.key)
      : undefined,
    pod: process.env.POD_NAME ?? hostname(),
    pollMs: flags.pollMs,
    describeChange,
    validate: (bytes) => validationProblem(bytes, options.validateOptions),
    events,
    log,
    metrics,
  });
  const description = coordinated
    ? `bake ${flags.bakeMs} ms, one pod first (lease ${flags.lease}, last good ${flags.lastGood})`
    : `bake ${flags.bakeMs} ms on this pod`;
  return { rollout, guard, description };
}

/** What the shared validator says is wrong with `bytes` (first lines), or undefined. */
function validationProblem(bytes: Buffer, validateOptions: SidecarOptions['validateOptions']) {
  try {
    checkConfigBytes(bytes, 'last good config', validateOptions);
    return undefined;
  } catch (err) {
    return err instanceof ConfigInvalidError
      ? err.issues.slice(0, 5).map(formatIssue).join('; ')
      : (err as Error).message;
  }
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

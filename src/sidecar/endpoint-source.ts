import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { EndpointSliceWatcher } from './endpointslice-watcher.ts';
import { EndpointsUpdater } from './endpoints-updater.ts';
import type { EventRecorder } from './events.ts';
import type { AdminTarget } from './reload-trigger.ts';
import { refKey, serviceRefsOf, servicesOf } from './service-refs.ts';
import type { ServiceRef } from './service-refs.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export interface EndpointSourceOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly path: string;
  readonly debounceMs: number;
  readonly stallTimeoutMs: number;
  readonly target: AdminTarget;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
}

// A config delivery waits this long for the first list of a newly named Service; past it the
// config goes out anyway (the API being down must not hold back a config) and the endpoints
// follow with the list.
const FIRST_LIST_WAIT_MS = 10_000;

/** The sidecar's EndpointSlice side: the watcher, the updater, and the hook the delivery calls. */
export interface EndpointSource {
  /**
   * Called before each config is written and reloaded: follows the Services it names, and
   * when it names one the previous config did not, lists its slices and writes and sends the
   * endpoints first, so the new route never starts on "no endpoints".
   */
  beforeApply(bytes: Buffer, signal: AbortSignal): Promise<void>;
  lastContactAt(): number;
  stop(): Promise<void>;
}

export function startEndpointSource(options: EndpointSourceOptions): EndpointSource {
  const { log } = options;
  const watcher = new EndpointSliceWatcher({
    kubeConfig: options.kubeConfig,
    namespace: options.namespace,
    stallTimeoutMs: options.stallTimeoutMs,
    log,
    metrics: options.metrics,
    // Called only once started, below, when the updater exists.
    onChange: () => updater.changed(),
  });
  const updater = new EndpointsUpdater({
    path: options.path,
    debounceMs: options.debounceMs,
    target: options.target,
    slices: () => watcher.slicesByService(),
    events: options.events,
    log,
    metrics: options.metrics,
  });
  watcher.start();
  let current: readonly ServiceRef[] = [];
  return {
    async beforeApply(bytes, signal) {
      const refs = serviceRefsOf(bytes);
      const before = new Set(current.map(refKey));
      const added = refs.filter((ref) => !before.has(refKey(ref)));
      current = refs;
      updater.setRefs(refs);
      const listed = watcher.setServices(servicesOf(refs));
      if (added.length === 0) {
        updater.changed();
        return;
      }
      const waited = await waitAtMost(listed, FIRST_LIST_WAIT_MS, signal);
      if (!waited && !signal.aborted) {
        log.warn(
          { services: servicesOf(added), wait_ms: FIRST_LIST_WAIT_MS },
          'no EndpointSlice list for the newly named Services yet; applying the config, their endpoints follow',
        );
      }
      await updater.flushNow();
    },
    lastContactAt: () => watcher.lastContactAt(),
    async stop() {
      await watcher.stop();
      await updater.stop();
    },
  };
}

/** True when `promise` settled within `ms`; false on the timeout or the abort. */
function waitAtMost(promise: Promise<void>, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => done(true));
  });
}

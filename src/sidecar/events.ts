import { hostname } from 'node:os';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { backoffDelay, sleepUnlessAborted } from './backoff.ts';
import type { ConfigMapRef } from './config-source.ts';
import { describeKubeError } from './kube-errors.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export type EventType = 'Normal' | 'Warning';

/** Reasons the sidecar posts, on the ConfigMap. */
export type EventReason =
  | 'ConfigRejected'
  | 'ConfigApplied'
  | 'ReloadFailed'
  | 'CertificatesRejected'
  | 'CertificatesReloaded'
  | 'CertificateWarnings'
  | 'ConfigBaking'
  | 'ConfigPromoted'
  | 'ConfigRolledBack'
  | 'ConfigHeld'
  | 'ConfigFallback'
  | 'EndpointsProblem';

/** Posts Kubernetes Events; never throws and never blocks a delivery. */
export interface EventRecorder {
  record(type: EventType, reason: EventReason, message: string, object?: ConfigMapRef): void;
  /** Waits for the posts in flight (tests, shutdown). */
  flush(): Promise<void>;
}

const COMPONENT = 'reverse-proxy-sidecar';
// The API server caps an Event's message at 1 KiB; longer ones are refused outright.
const MAX_MESSAGE = 1024;
const ATTEMPTS = 3;

/** Volume mode without API access: Events are skipped, the log and metrics still say it all. */
export const noEvents: EventRecorder = {
  record: () => undefined,
  flush: () => Promise.resolve(),
};

export interface EventRecorderOptions {
  readonly kubeConfig: KubeConfig;
  /** The ConfigMap Events name when an update carries no object of its own. */
  readonly defaultObject: ConfigMapRef;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  /** Stops retries at shutdown. */
  readonly signal: AbortSignal;
}

/**
 * core/v1 Events on the ConfigMap (what `kubectl describe configmap` and `kubectl get events`
 * show), posted with a few retries: a lost Event is a pity, a sidecar stuck on one is worse.
 * RBAC: `create` on `events` in the ConfigMap's namespace; a 403 is logged with verb and
 * resource, like the watch's.
 */
export function createEventRecorder(options: EventRecorderOptions): EventRecorder {
  const api = options.kubeConfig.makeApiClient(CoreV1Api);
  const inFlight = new Set<Promise<void>>();
  const instance = process.env.POD_NAME ?? hostname();
  const post = async (
    type: EventType,
    reason: EventReason,
    message: string,
    object: ConfigMapRef,
  ): Promise<void> => {
    const { log, metrics, signal } = options;
    const now = new Date();
    const body = {
      metadata: { generateName: `${object.name}.`, namespace: object.namespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: object.name,
        namespace: object.namespace,
        ...(object.uid === undefined ? {} : { uid: object.uid }),
        ...(object.resourceVersion === undefined
          ? {}
          : { resourceVersion: object.resourceVersion }),
      },
      type,
      reason,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
      source: { component: COMPONENT, host: instance },
      reportingComponent: COMPONENT,
      reportingInstance: instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await api.createNamespacedEvent({ namespace: object.namespace, body });
        metrics.kubeEvents.inc({ reason, result: 'posted' });
        return;
      } catch (err) {
        const failure = describeKubeError(err, 'create');
        const last = attempt + 1 >= ATTEMPTS || signal.aborted;
        const fields = {
          code: failure.forbidden ? 'ERR_KUBE_FORBIDDEN' : 'ERR_KUBE_API',
          verb: 'create',
          resource: 'events',
          namespace: object.namespace,
          event_reason: reason,
          status: failure.status,
          detail: failure.detail,
          gave_up: last,
        };
        const text = failure.forbidden
          ? `forbidden: cannot create events in namespace "${object.namespace}"; the Role needs create on events`
          : `cannot post a ${reason} Event`;
        log.warn(fields, last ? text : `${text}; retrying`);
        if (last) {
          metrics.kubeEvents.inc({ reason, result: 'failed' });
          return;
        }
        await sleepUnlessAborted(backoffDelay(attempt, { baseMs: 1_000, maxMs: 5_000 }), signal);
      }
    }
  };
  return {
    record(type, reason, message, object = options.defaultObject) {
      const posting = post(type, reason, message, object).finally(() => inFlight.delete(posting));
      inFlight.add(posting);
    },
    async flush() {
      await Promise.all(inFlight);
    },
  };
}

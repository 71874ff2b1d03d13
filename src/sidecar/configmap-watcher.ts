import { CoreV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { backoffDelay, sleepUnlessAborted, WATCH_BACKOFF } from './backoff.ts';
import type { ConfigSource, SourceUpdate, UpdateListener } from './config-source.ts';
import { describeKubeError } from './kube-errors.ts';
import type { KubeFailure } from './kube-errors.ts';
import { withSignal } from './kube-request.ts';
import { watchOnce } from './watch-once.ts';
import type { WatchEnd } from './watch-once.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export interface ConfigMapWatcherOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  /** Restart the watch when neither an event nor a successful contact came for this long. */
  readonly stallTimeoutMs: number;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly onUpdate: UpdateListener;
}

/** Why one list+watch attempt ended, and so what the next one does. */
type Ending =
  | { readonly kind: 'closed'; readonly healthy: boolean }
  | { readonly kind: 'gone' }
  | { readonly kind: 'stall'; readonly cause: string }
  | { readonly kind: 'failed'; readonly failure: KubeFailure };

class StallAbort extends Error {}

/**
 * API mode: list, then watch, one ConfigMap, with `fieldSelector=metadata.name=NAME` on both
 * (a Role restricted by resourceNames only allows list/watch that carry it).
 *
 * Built on client-node's Watch (auth, TLS, line parsing, the 30 s inactivity timeout) rather
 * than its ListWatch informer, because ListWatch stops for good on any error other than 410
 * without saying whether the list or the watch failed, backs off without jitter, and fires a
 * spurious error when stopped mid-watch. Here: the initial list, resume from the last
 * resourceVersion, re-list on 410 Gone, jittered back-off (1 s .. 30 s) after errors, and a
 * stall detector that restarts an attempt that has made no contact for `stallTimeoutMs`.
 */
export function watchConfigMap(options: ConfigMapWatcherOptions): ConfigSource {
  const watcher = new ConfigMapWatcher(options);
  void watcher.run();
  return watcher;
}

class ConfigMapWatcher implements ConfigSource {
  readonly description: string;
  readonly #options: ConfigMapWatcherOptions;
  readonly #api: CoreV1Api;
  readonly #watch: Watch;
  readonly #path: string;
  readonly #fieldSelector: string;
  readonly #stopping = new AbortController();
  readonly #stallTimer: NodeJS.Timeout;
  readonly #requestTimeoutMs: number;
  #attempt: { controller: AbortController; startedAt: number } | undefined;
  #lastContact = 0;
  #done: Promise<void> = Promise.resolve();

  constructor(options: ConfigMapWatcherOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#watch = new Watch(options.kubeConfig);
    // client-node's inactivity timeout (30 s) ends a quiet watch, which then reconnects: that
    // reconnect is the "contact" that keeps a healthy quiet watch clear of the stall detector,
    // so it must come well within the stall timeout, whatever that is set to.
    // (A public field at runtime; the typings call it private.)
    this.#requestTimeoutMs = Math.min(
      30_000,
      Math.max(100, Math.floor(options.stallTimeoutMs / 2)),
    );
    (this.#watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs =
      this.#requestTimeoutMs;
    this.#path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/configmaps`;
    this.#fieldSelector = `metadata.name=${options.name}`;
    this.description = `configmap ${options.namespace}/${options.name}`;
    const every = Math.max(50, Math.min(5_000, Math.floor(options.stallTimeoutMs / 4)));
    this.#stallTimer = setInterval(() => this.#checkStall(), every);
  }

  lastContactAt(): number {
    return this.#lastContact;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    clearInterval(this.#stallTimer);
    this.#attempt?.controller.abort();
    await this.#done;
  }

  run(): Promise<void> {
    this.#done = this.#loop();
    return this.#done;
  }

  async #loop(): Promise<void> {
    let resourceVersion = '';
    // Attempts in a row that did not get a watch going; sets the back-off.
    let failures = 0;
    let previous: Ending['kind'] | undefined;
    while (!this.#stopping.signal.aborted) {
      const controller = new AbortController();
      this.#attempt = { controller, startedAt: Date.now() };
      let ending: Ending;
      let verb: 'list' | 'watch' = 'list';
      try {
        if (resourceVersion === '') resourceVersion = await this.#list(controller.signal);
        verb = 'watch';
        ending = await this.#watchOnce(
          resourceVersion,
          controller.signal,
          (version) => (resourceVersion = version),
          () => (failures = 0),
        );
      } catch (err) {
        ending = endingFor(err, verb);
      } finally {
        this.#attempt = undefined;
      }
      if (this.#stopping.signal.aborted) return;
      const delay = this.#handleEnding(ending, failures, previous);
      failures = ending.kind === 'closed' && ending.healthy ? 0 : failures + 1;
      previous = ending.kind;
      if (ending.kind === 'gone' || ending.kind === 'stall') resourceVersion = '';
      if (delay > 0 && !(await sleepUnlessAborted(delay, this.#stopping.signal))) return;
    }
  }

  /** Logs and counts one ending; returns how long to wait before the next attempt. */
  #handleEnding(ending: Ending, failures: number, previous: Ending['kind'] | undefined): number {
    const { log, metrics, name, namespace, stallTimeoutMs } = this.#options;
    // A 410 or a stall re-lists at once; the same again right after backs off.
    const immediateOnce = previous === ending.kind ? backoffDelay(failures, WATCH_BACKOFF) : 0;
    switch (ending.kind) {
      case 'closed':
        metrics.watchRestarts.inc({ reason: 'closed' });
        log.debug({ healthy: ending.healthy }, 'watch closed; resuming');
        return ending.healthy ? 0 : backoffDelay(failures, WATCH_BACKOFF);
      case 'gone':
        metrics.watchRestarts.inc({ reason: 'gone' });
        log.info('watch expired (410 Gone); re-listing the ConfigMap');
        return immediateOnce;
      case 'stall':
        metrics.watchRestarts.inc({ reason: 'stall' });
        log.warn(
          { stall_timeout_ms: stallTimeoutMs, cause: ending.cause },
          'the Kubernetes API went silent (no event, no contact); restarting the watch with a fresh list',
        );
        return immediateOnce;
      case 'failed': {
        const { failure } = ending;
        const delay = backoffDelay(failures, WATCH_BACKOFF);
        metrics.watchRestarts.inc({ reason: failure.forbidden ? 'forbidden' : 'error' });
        const fields = {
          code: failure.forbidden ? 'ERR_KUBE_FORBIDDEN' : 'ERR_KUBE_API',
          verb: failure.verb,
          resource: 'configmaps',
          name,
          namespace,
          status: failure.status,
          detail: failure.detail,
          retry_in_ms: delay,
        };
        if (failure.forbidden) {
          log.error(
            fields,
            `forbidden: cannot ${failure.verb} configmaps "${name}" in namespace "${namespace}"; ` +
              'the Role needs get, list and watch on this ConfigMap (resourceNames); retrying',
          );
        } else {
          log.warn(fields, `${failure.verb} configmaps "${name}" failed; retrying`);
        }
        return delay;
      }
    }
  }

  async #list(signal: AbortSignal): Promise<string> {
    const { namespace, name } = this.#options;
    const list = await this.#api.listNamespacedConfigMap(
      { namespace, fieldSelector: this.#fieldSelector },
      withSignal(signal),
    );
    this.#contact();
    const found = list.items.find((item) => item.metadata?.name === name);
    this.#emit(
      found === undefined
        ? { kind: 'absent', message: `ConfigMap ${namespace}/${name} does not exist` }
        : this.#updateFor(found),
    );
    return list.metadata?.resourceVersion ?? '';
  }

  /** One watch request, from `resourceVersion`; resolves with how it ended. */
  async #watchOnce(
    resourceVersion: string,
    signal: AbortSignal,
    onProgress: (resourceVersion: string) => void,
    onConnected: () => void,
  ): Promise<Ending> {
    const { namespace, name } = this.#options;
    let end: WatchEnd;
    try {
      end = await watchOnce({
        watch: this.#watch,
        path: this.#path,
        query: { resourceVersion, fieldSelector: this.#fieldSelector, allowWatchBookmarks: true },
        signal,
        onProgress,
        onConnected,
        onContact: () => this.#contact(),
        onEvent: (type, object) => {
          const configMap = object as V1ConfigMap;
          if (type === 'ADDED' || type === 'MODIFIED') this.#emit(this.#updateFor(configMap));
          else if (type === 'DELETED') {
            this.#emit({ kind: 'absent', message: `ConfigMap ${namespace}/${name} was deleted` });
          }
        },
      });
    } catch (err) {
      // No response headers within the request timeout: the API is not answering.
      if (!signal.aborted && (err as Error | null)?.name === 'TimeoutError') {
        throw new StallAbort('no answer to the watch request within its timeout');
      }
      throw err;
    }
    if (end.kind === 'gone') return end;
    // An established watch ended: the server's timeout, a restart, a load balancer's cut, or
    // client-node's inactivity timer on a quiet watch. All resume from the last
    // resourceVersion; only one that ends at once, eventless, counts against back-off.
    const healthy =
      end.events > 0 ||
      end.livedMs >= Math.min(1_000, this.#requestTimeoutMs / 2) ||
      (end.err as Error | null)?.name === 'TimeoutError';
    if (end.err !== null && end.err !== undefined) {
      this.#options.log.debug(
        { err: describeKubeError(end.err, 'watch').detail },
        'watch connection ended',
      );
    }
    return { kind: 'closed', healthy };
  }

  #updateFor(configMap: V1ConfigMap): SourceUpdate {
    const { key, namespace, name } = this.#options;
    const object = {
      namespace: configMap.metadata?.namespace ?? namespace,
      name: configMap.metadata?.name ?? name,
      uid: configMap.metadata?.uid,
      resourceVersion: configMap.metadata?.resourceVersion,
    };
    const text = configMap.data?.[key];
    if (text !== undefined) return { kind: 'content', bytes: Buffer.from(text, 'utf8'), object };
    const binary = configMap.binaryData?.[key];
    if (binary !== undefined) {
      return { kind: 'content', bytes: Buffer.from(binary, 'base64'), object };
    }
    const keys = [...Object.keys(configMap.data ?? {}), ...Object.keys(configMap.binaryData ?? {})];
    return {
      kind: 'invalid',
      code: 'ERR_CONFIGMAP_KEY_MISSING',
      message: `ConfigMap ${object.namespace}/${object.name} has no key "${key}" (keys: ${keys.join(', ') || 'none'})`,
      object,
    };
  }

  #emit(update: SourceUpdate): void {
    this.#options.onUpdate(update);
  }

  #contact(): void {
    this.#lastContact = Date.now();
    this.#options.metrics.lastContact.set(this.#lastContact / 1000);
  }

  #checkStall(): void {
    const attempt = this.#attempt;
    if (attempt === undefined) return; // between attempts (backing off): nothing to restart
    const since = Math.max(this.#lastContact, attempt.startedAt);
    if (Date.now() - since > this.#options.stallTimeoutMs) {
      attempt.controller.abort(new StallAbort(`no contact for ${this.#options.stallTimeoutMs} ms`));
    }
  }
}

function endingFor(err: unknown, verb: 'list' | 'watch'): Ending {
  if (err instanceof StallAbort) return { kind: 'stall', cause: err.message };
  const failure = describeKubeError(err, verb);
  if (failure.status === 410) return { kind: 'gone' };
  return { kind: 'failed', failure };
}

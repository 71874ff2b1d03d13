import { DiscoveryV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { backoffDelay, sleepUnlessAborted, WATCH_BACKOFF } from './backoff.ts';
import { SERVICE_LABEL } from './endpoint-aggregation.ts';
import type { SliceLike } from './endpoint-aggregation.ts';
import { describeKubeError } from './kube-errors.ts';
import { withSignal } from './kube-request.ts';
import { watchOnce } from './watch-once.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export interface EndpointSliceWatcherOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** A quiet watch is reconnected within half of this (client-node's inactivity timeout). */
  readonly stallTimeoutMs: number;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  /** Called after each list and each watch event: the slices changed (or may have). */
  readonly onChange: () => void;
}

/** Why one list+watch attempt ended. */
type Ending = 'closed' | 'quick_close' | 'gone' | 'restart' | 'failed';

class Restart extends Error {}

/**
 * Lists and watches the EndpointSlices of a set of Services with one set-based selector,
 * `kubernetes.io/service-name in (a,b)`, in the pod's namespace. A new set (a delivered config
 * names other Services) restarts the attempt with a fresh list under the new selector; a 410
 * Gone or a dropped watch re-lists or resumes as the ConfigMap watcher does, with the same
 * jittered back-off after failures. The store is keyed by slice name and replaced whole on
 * every list, so a slice deleted while no watch ran disappears too.
 */
export class EndpointSliceWatcher {
  readonly #options: EndpointSliceWatcherOptions;
  readonly #api: DiscoveryV1Api;
  readonly #watch: Watch;
  readonly #path: string;
  readonly #stopping = new AbortController();
  #services: readonly string[] = [];
  /** The selector of the last completed list ('' none yet), and who waits for one. */
  #listed: string | undefined;
  #waiters: { selector: string; resolve: () => void }[] = [];
  #wake: (() => void) | undefined;
  #attempt: AbortController | undefined;
  #slices = new Map<string, SliceLike>();
  #lastContact = 0;
  #done: Promise<void> = Promise.resolve();

  constructor(options: EndpointSliceWatcherOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.#watch = new Watch(options.kubeConfig);
    (this.#watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = Math.min(
      30_000,
      Math.max(100, Math.floor(options.stallTimeoutMs / 2)),
    );
    this.#path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/endpointslices`;
  }

  start(): void {
    this.#done = this.#loop();
  }

  lastContactAt(): number {
    return this.#lastContact;
  }

  /**
   * Watches these Services from now on; resolves once a list under the new selector has
   * completed (at once when it already has), or when another set or stop supersedes it.
   */
  setServices(services: readonly string[]): Promise<void> {
    const next = [...new Set(services)].sort();
    const selector = selectorFor(next);
    if (selector === selectorFor(this.#services)) {
      if (this.#listed === selector || next.length === 0) return Promise.resolve();
    } else {
      this.#services = next;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
      this.#attempt?.abort(new Restart('the set of Services changed'));
      this.#wake?.();
    }
    if (next.length === 0 || this.#stopping.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ selector, resolve }));
  }

  /** The current slices, by Service. */
  slicesByService(): Map<string, SliceLike[]> {
    const by = new Map<string, SliceLike[]>();
    const names = [...this.#slices.keys()].sort();
    for (const name of names) {
      const slice = this.#slices.get(name) as SliceLike;
      const service = slice.metadata?.labels?.[SERVICE_LABEL];
      if (service === undefined) continue;
      const list = by.get(service) ?? [];
      list.push(slice);
      by.set(service, list);
    }
    return by;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#attempt?.abort();
    this.#wake?.();
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    await this.#done;
  }

  async #loop(): Promise<void> {
    let resourceVersion = '';
    let failures = 0;
    while (!this.#stopping.signal.aborted) {
      if (this.#services.length === 0) {
        this.#replace([]);
        resourceVersion = '';
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const selector = selectorFor(this.#services);
      const controller = new AbortController();
      this.#attempt = controller;
      let ending: Ending;
      try {
        if (resourceVersion === '') resourceVersion = await this.#list(selector, controller.signal);
        ending = await this.#watchOnce(selector, resourceVersion, controller.signal, (rv) => {
          resourceVersion = rv;
          failures = 0;
        });
      } catch (err) {
        // An abort surfaces as whatever fetch throws; the reason says whether it was ours.
        ending =
          controller.signal.reason instanceof Restart ? 'restart' : this.#failed(err, selector);
      } finally {
        this.#attempt = undefined;
      }
      if (this.#stopping.signal.aborted) return;
      this.#options.metrics.endpointWatchRestarts.inc({ reason: ending });
      if (ending !== 'closed') resourceVersion = '';
      const delay =
        ending === 'failed' || ending === 'quick_close'
          ? backoffDelay(failures++, WATCH_BACKOFF)
          : 0;
      if (ending === 'gone')
        this.#options.log.info('EndpointSlice watch expired (410 Gone); re-listing');
      if (delay > 0 && !(await sleepUnlessAborted(delay, this.#stopping.signal))) return;
    }
  }

  #failed(err: unknown, selector: string): Ending {
    if (err instanceof Restart) return 'restart';
    if (this.#stopping.signal.aborted) return 'restart';
    const failure = describeKubeError(err, 'list');
    if (failure.status === 410) return 'gone';
    const { log, namespace } = this.#options;
    const fields = {
      code: failure.forbidden ? 'ERR_KUBE_FORBIDDEN' : 'ERR_KUBE_API',
      resource: 'endpointslices.discovery.k8s.io',
      namespace,
      selector,
      status: failure.status,
      detail: failure.detail,
    };
    if (failure.forbidden) {
      log.error(
        fields,
        `forbidden: cannot list/watch endpointslices in namespace "${namespace}"; ` +
          'the Role needs list and watch on endpointslices (discovery.k8s.io); retrying',
      );
    } else {
      log.warn(fields, 'listing or watching EndpointSlices failed; retrying');
    }
    return 'failed';
  }

  async #list(selector: string, signal: AbortSignal): Promise<string> {
    const list = await this.#api.listNamespacedEndpointSlice(
      { namespace: this.#options.namespace, labelSelector: selector },
      withSignal(signal),
    );
    // The set may have changed while the list was in flight: its answer is for the old one.
    signal.throwIfAborted();
    this.#contact();
    this.#replace(list.items);
    this.#listed = selector;
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.selector === selector) waiter.resolve();
      else this.#waiters.push(waiter);
    }
    return list.metadata?.resourceVersion ?? '';
  }

  #replace(items: readonly SliceLike[]): void {
    if (items.length === 0 && this.#slices.size === 0) return;
    this.#slices = new Map(items.map((item) => [item.metadata?.name ?? '', item]));
    this.#options.onChange();
  }

  /** One watch request from `resourceVersion`; resolves with how it ended. */
  async #watchOnce(
    selector: string,
    resourceVersion: string,
    signal: AbortSignal,
    onProgress: (resourceVersion: string) => void,
  ): Promise<Ending> {
    const end = await watchOnce({
      watch: this.#watch,
      path: this.#path,
      query: { resourceVersion, labelSelector: selector, allowWatchBookmarks: true },
      signal,
      onProgress,
      onContact: () => this.#contact(),
      onEvent: (type, object) => {
        const slice = object as SliceLike;
        const name = slice.metadata?.name ?? '';
        if (type === 'ADDED' || type === 'MODIFIED') this.#slices.set(name, slice);
        else if (type === 'DELETED') this.#slices.delete(name);
        else return; // BOOKMARK: progress only
        this.#options.onChange();
      },
    });
    if (end.kind === 'gone') return 'gone';
    // An established watch ended (server timeout, a cut, the inactivity timer): resume from the
    // last version; one that ends at once and eventless backs off.
    const quick = end.events === 0 && end.livedMs < 1_000;
    return quick && (end.err as Error | null)?.name !== 'TimeoutError' ? 'quick_close' : 'closed';
  }

  #contact(): void {
    this.#lastContact = Date.now();
  }
}

/** `kubernetes.io/service-name in (a,b)`; '' for no Services. */
export function selectorFor(services: readonly string[]): string {
  return services.length === 0 ? '' : `${SERVICE_LABEL} in (${services.join(',')})`;
}

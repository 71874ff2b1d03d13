import type { Watch } from '@kubernetes/client-node';

/** How one watch request ended, when it had started (the API answered 200). */
export type WatchEnd =
  | { readonly kind: 'gone' }
  | {
      readonly kind: 'closed';
      /** Events received (bookmarks included). */
      readonly events: number;
      /** From the response headers to the end. */
      readonly livedMs: number;
      /** What client-node said when the stream ended (null or undefined: a clean end). */
      readonly err: unknown;
    };

export interface WatchOnceOptions {
  readonly watch: Watch;
  readonly path: string;
  readonly query: Record<string, string | number | boolean | undefined>;
  readonly signal: AbortSignal;
  /** Every event but ERROR, bookmarks included, after its resourceVersion went to onProgress. */
  readonly onEvent: (type: string, object: unknown) => void;
  readonly onProgress: (resourceVersion: string) => void;
  /** Any sign that the API is there: the response headers, each event. */
  readonly onContact: () => void;
  readonly onConnected?: () => void;
}

/**
 * One watch request from a resourceVersion, the part both sidecar watchers (the config's
 * ConfigMap, the Services' EndpointSlices) share: it resolves with how a started watch ended
 * (410 Gone in an ERROR event, or the stream's end), and rejects with the abort reason, with
 * what ended a watch that never started (`err ?? Error`), or with any other ERROR event (its
 * `statusCode` set). The API server closes the stream after an ERROR; ending here does not
 * wait for it.
 */
export function watchOnce(options: WatchOnceOptions): Promise<WatchEnd> {
  const { signal } = options;
  return new Promise<WatchEnd>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    let request: AbortController | undefined;
    let connectedAt: number | undefined;
    let events = 0;
    const finish = (outcome: { end: WatchEnd } | { error: unknown }) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      request?.abort();
      if ('end' in outcome) resolve(outcome.end);
      else reject(outcome.error);
    };
    const onAbort = () => finish({ error: signal.reason });
    signal.addEventListener('abort', onAbort, { once: true });
    const onEvent = (type: string, object: unknown) => {
      if (settled) return;
      options.onContact();
      if (type === 'ERROR') {
        const status = object as { code?: number; message?: string } | undefined;
        if (status?.code === 410) finish({ end: { kind: 'gone' } });
        else {
          const error = new Error(status?.message ?? 'watch ERROR event');
          finish({ error: Object.assign(error, { statusCode: status?.code }) });
        }
        return;
      }
      const version = (object as { metadata?: { resourceVersion?: string } } | undefined)?.metadata
        ?.resourceVersion;
      events++;
      if (version !== undefined && version !== '') options.onProgress(version);
      options.onEvent(type, object);
    };
    const onDone = (err: unknown) => {
      if (connectedAt === undefined) {
        finish({ error: err ?? new Error('watch ended before it started') });
        return;
      }
      finish({ end: { kind: 'closed', events, livedMs: Date.now() - connectedAt, err } });
    };
    options.watch.watch(options.path, options.query, onEvent, onDone).then(
      (started) => {
        request = started;
        if (settled) {
          started.abort();
          return;
        }
        // Watch resolves once the response headers said 200: the API is reachable and lets
        // us watch.
        connectedAt = Date.now();
        options.onContact();
        options.onConnected?.();
      },
      (err: unknown) => finish({ error: err }),
    );
  });
}

/** The ConfigMap a change came from: what Kubernetes Events are attached to. */
export interface ConfigMapRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
  readonly resourceVersion?: string | undefined;
}

/**
 * What a watcher saw. `content`: the key's bytes, still unvalidated. `invalid`: something that
 * can never be delivered (no such key, over the size cap), rejected like a bad config.
 * `absent`: no ConfigMap or no file at all; nothing to deliver, the last good config stays.
 */
export type SourceUpdate =
  | { readonly kind: 'content'; readonly bytes: Buffer; readonly object?: ConfigMapRef | undefined }
  | {
      readonly kind: 'invalid';
      readonly code: 'ERR_CONFIGMAP_KEY_MISSING' | 'ERR_CONFIG_TOO_LARGE';
      readonly message: string;
      readonly object?: ConfigMapRef | undefined;
    }
  | { readonly kind: 'absent'; readonly message: string };

/** A running watcher, API or volume: the sidecar only needs to stop it and ask how it is. */
export interface ConfigSource {
  /** Where changes come from, for logs: `configmap ns/name` or `volume /dir`. */
  readonly description: string;
  /** ms since the epoch of the last successful contact with the API or the volume (0: never). */
  lastContactAt(): number;
  stop(): Promise<void>;
}

export type UpdateListener = (update: SourceUpdate) => void;

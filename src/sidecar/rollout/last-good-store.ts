import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { configSha256 } from '../../config/load.ts';
import type { Logger } from '../../log.ts';
import { ANNOTATIONS } from './revision-record.ts';

export interface StoredConfig {
  readonly bytes: Buffer;
  readonly sha256: string;
}

/**
 * The last promoted config, kept in the cluster (a ConfigMap pre-created by the chart, named
 * after the release) so a pod that starts while the watched ConfigMap is bad, or holds a
 * revision that was rolled back or still bakes elsewhere, boots on it. Written only by the
 * sidecar that promoted a revision (RBAC: get and update on this one ConfigMap).
 */
export class LastGoodStore {
  readonly #api: CoreV1Api;
  readonly namespace: string;
  readonly name: string;
  readonly #key: string;

  constructor(kubeConfig: KubeConfig, namespace: string, name: string, key: string) {
    this.#api = kubeConfig.makeApiClient(CoreV1Api);
    this.namespace = namespace;
    this.name = name;
    this.#key = key;
  }

  /** The stored config, or undefined while none was promoted yet. */
  async read(): Promise<StoredConfig | undefined> {
    const cm = await this.#api.readNamespacedConfigMap({
      name: this.name,
      namespace: this.namespace,
    });
    const text = cm.data?.[this.#key];
    if (text === undefined || text === '') return undefined;
    const bytes = Buffer.from(text);
    return { bytes, sha256: configSha256(bytes) };
  }

  async write(config: StoredConfig, pod: string): Promise<void> {
    const cm = await this.#api.readNamespacedConfigMap({
      name: this.name,
      namespace: this.namespace,
    });
    cm.data = { ...(cm.data ?? {}), [this.#key]: config.bytes.toString() };
    cm.metadata = {
      ...cm.metadata,
      annotations: {
        ...(cm.metadata?.annotations ?? {}),
        [ANNOTATIONS.sha256]: config.sha256,
        [ANNOTATIONS.promotedAt]: new Date().toISOString(),
        [ANNOTATIONS.promotedBy]: pod,
      },
    };
    await this.#api.replaceNamespacedConfigMap({
      name: this.name,
      namespace: this.namespace,
      body: cm,
    });
  }
}

/**
 * The stored last good config as the rollout may serve it: read once, and only if the shared
 * validator still accepts it (it may predate this version, or have been edited by hand); an
 * invalid one is logged and ignored until the next promotion replaces it.
 */
export class LastGoodSource {
  readonly #store: LastGoodStore | undefined;
  readonly #validate: (bytes: Buffer) => string | undefined;
  readonly #log: Logger;

  constructor(
    store: LastGoodStore | undefined,
    validate: (bytes: Buffer) => string | undefined,
    log: Logger,
  ) {
    this.#store = store;
    this.#validate = validate;
    this.#log = log;
  }

  async read(): Promise<StoredConfig | undefined> {
    if (this.#store === undefined) return undefined;
    let stored;
    try {
      stored = await this.#store.read();
    } catch (err) {
      this.#log.error({ err: String(err) }, 'cannot read the last good config');
      return undefined;
    }
    if (stored === undefined) return undefined;
    const problem = this.#validate(stored.bytes);
    if (problem === undefined) return stored;
    this.#log.error(
      {
        configmap: `${this.#store.namespace}/${this.#store.name}`,
        sha256: stored.sha256,
        errors: problem,
      },
      'the stored last good config is invalid: ignored (the next promotion replaces it)',
    );
    return undefined;
  }
}

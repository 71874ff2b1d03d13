import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfigBytes } from '../config/load.ts';
import { isProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, WATCH_BACKOFF } from './backoff.ts';
import type { ConfigSource, ConfigMapRef, UpdateListener } from './config-source.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export interface VolumeWatcherOptions {
  readonly dir: string;
  readonly key: string;
  /** Re-read and re-hash the key this often whatever fs.watch says: the safety net. */
  readonly resyncMs: number;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly onUpdate: UpdateListener;
  /** The ConfigMap behind the volume, when known (--events-configmap): Events name it. */
  readonly object?: ConfigMapRef | undefined;
}

// A read that raced the kubelet's swap is retried this soon rather than at the next resync.
const RACE_RETRY_MS = 100;

/**
 * Volume mode: the ConfigMap mounted by the kubelet. The kubelet writes a new timestamped
 * directory and swaps the `..data` symlink by rename; `key -> ..data/key` then resolves to the
 * new bytes. fs.watch on the directory (never the file: the file's inode is replaced, a watch
 * on it goes deaf) reports the swap as a rename of `..data`; any event in the directory
 * triggers a read, since reading and hashing a small file is cheap and a plain directory
 * (compose bind mount, no `..data`) changes the key itself. A periodic re-read covers events
 * fs.watch misses (network filesystems, overflow). The sidecar acts on the hash, not the event.
 */
export function watchVolume(options: VolumeWatcherOptions): ConfigSource {
  const watcher = new VolumeWatcher(options);
  watcher.start();
  return watcher;
}

class VolumeWatcher implements ConfigSource {
  readonly description: string;
  readonly #options: VolumeWatcherOptions;
  readonly #path: string;
  #fsWatcher: FSWatcher | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #rewatchTimer: NodeJS.Timeout | undefined;
  #watchFailures = 0;
  #lastContact = 0;
  #reading: Promise<void> | undefined;
  #readAgain = false;
  #stopped = false;

  constructor(options: VolumeWatcherOptions) {
    this.#options = options;
    this.#path = join(options.dir, options.key);
    this.description = `volume ${options.dir}`;
  }

  start(): void {
    this.#startFsWatch();
    this.#resyncTimer = setInterval(() => this.#read(), this.#options.resyncMs);
    this.#read();
  }

  lastContactAt(): number {
    return this.#lastContact;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#fsWatcher?.close();
    clearInterval(this.#resyncTimer);
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#rewatchTimer);
    await this.#reading;
  }

  #startFsWatch(): void {
    const { dir, log } = this.#options;
    try {
      this.#fsWatcher = watch(dir, { persistent: false }, () => this.#read());
      this.#fsWatcher.on('error', (err) => this.#restartFsWatch(err));
      this.#watchFailures = 0;
    } catch (err) {
      this.#restartFsWatch(err);
      return;
    }
    log.debug({ dir }, 'watching the volume directory');
  }

  /** The directory vanished or the watch broke: try again later; resync keeps reading meanwhile. */
  #restartFsWatch(err: unknown): void {
    if (this.#stopped) return;
    const { dir, log, metrics } = this.#options;
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
    const delay = backoffDelay(this.#watchFailures++, WATCH_BACKOFF);
    metrics.watchRestarts.inc({ reason: 'fs_error' });
    log.warn(
      { dir, err: String(err), retry_in_ms: delay },
      'cannot watch the volume directory; retrying',
    );
    this.#rewatchTimer = setTimeout(() => this.#startFsWatch(), delay);
  }

  /** One read at a time; events during a read ask for one more read after it. */
  #read(): void {
    if (this.#stopped) return;
    if (this.#reading !== undefined) {
      this.#readAgain = true;
      return;
    }
    this.#reading = this.#readOnce().finally(() => {
      this.#reading = undefined;
      if (this.#readAgain && !this.#stopped) {
        this.#readAgain = false;
        this.#read();
      }
    });
  }

  async #readOnce(): Promise<void> {
    const { dir, onUpdate, object, log } = this.#options;
    try {
      await stat(dir);
      this.#contact();
    } catch (err) {
      log.warn({ dir, err: String(err) }, 'the volume directory cannot be read');
      return;
    }
    try {
      const file = await loadConfigBytes(this.#path);
      if (this.#stopped) return;
      onUpdate({ kind: 'content', bytes: file.bytes, object });
    } catch (err) {
      if (this.#stopped) return;
      if (!isProxyError(err)) {
        log.error({ code: 'ERR_INTERNAL', err: String(err) }, 'reading the volume failed');
      } else if (err.code === 'ERR_CONFIG_TOO_LARGE') {
        onUpdate({ kind: 'invalid', code: err.code, message: err.message, object });
      } else if (err.code === 'ERR_CONFIG_CHANGED_DURING_READ') {
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => this.#read(), RACE_RETRY_MS);
      } else {
        onUpdate({ kind: 'absent', message: err.message });
      }
    }
  }

  #contact(): void {
    this.#lastContact = Date.now();
    this.#options.metrics.lastContact.set(this.#lastContact / 1000);
  }
}

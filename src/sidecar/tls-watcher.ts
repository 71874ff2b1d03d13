import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { backoffDelay, WATCH_BACKOFF } from './backoff.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export interface TlsWatcherOptions {
  /** Mounted Secret directories (`tls.crt`, `tls.key`, ...), as the kubelet lays them out. */
  readonly dirs: readonly string[];
  /** Re-read every directory this often whatever fs.watch says: the safety net. */
  readonly resyncMs: number;
  /** Wait this long after an event before reading, so one swap is acted on once. */
  readonly settleMs: number;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  /** The contents of `dirs` changed (not called for the first read, the baseline). */
  readonly onChange: (changed: readonly string[]) => Promise<void>;
}

export interface TlsWatcher {
  stop(): Promise<void>;
}

/**
 * Watches mounted TLS Secret directories the way the volume watcher watches the ConfigMap
 * volume: fs.watch on the directory (the kubelet swaps `..data` by rename, the key files'
 * inodes are replaced), plus a periodic re-read. It acts on content: the fingerprint of every
 * visible file (name and bytes, symlinks followed), so an event that changed nothing does
 * nothing. The files themselves are not trusted here; `onChange` validates them.
 */
export function watchTlsDirs(options: TlsWatcherOptions): TlsWatcher {
  const watcher = new TlsDirWatcher(options);
  watcher.start();
  return watcher;
}

class TlsDirWatcher implements TlsWatcher {
  readonly #options: TlsWatcherOptions;
  readonly #fsWatchers = new Map<string, FSWatcher>();
  readonly #rewatchTimers = new Set<NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  #fingerprints: Map<string, string> | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #checkAgain = false;
  #stopped = false;

  constructor(options: TlsWatcherOptions) {
    this.#options = options;
  }

  start(): void {
    for (const dir of this.#options.dirs) this.#startFsWatch(dir);
    this.#resyncTimer = setInterval(() => this.#check(), this.#options.resyncMs);
    this.#check();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const watcher of this.#fsWatchers.values()) watcher.close();
    for (const timer of this.#rewatchTimers) clearTimeout(timer);
    clearInterval(this.#resyncTimer);
    clearTimeout(this.#settleTimer);
    await this.#checking;
  }

  #startFsWatch(dir: string): void {
    const { log } = this.#options;
    try {
      const watcher = watch(dir, { persistent: false }, () => this.#settle());
      watcher.on('error', (err) => this.#restartFsWatch(dir, err));
      this.#fsWatchers.set(dir, watcher);
      this.#failures.set(dir, 0);
    } catch (err) {
      this.#restartFsWatch(dir, err);
      return;
    }
    log.debug({ dir }, 'watching the TLS directory');
  }

  #restartFsWatch(dir: string, err: unknown): void {
    if (this.#stopped) return;
    const { log, metrics } = this.#options;
    this.#fsWatchers.get(dir)?.close();
    this.#fsWatchers.delete(dir);
    const failures = this.#failures.get(dir) ?? 0;
    this.#failures.set(dir, failures + 1);
    const delay = backoffDelay(failures, WATCH_BACKOFF);
    metrics.watchRestarts.inc({ reason: 'fs_error' });
    log.warn(
      { dir, err: String(err), retry_in_ms: delay },
      'cannot watch the TLS directory; retrying',
    );
    const timer = setTimeout(() => {
      this.#rewatchTimers.delete(timer);
      this.#startFsWatch(dir);
    }, delay);
    this.#rewatchTimers.add(timer);
  }

  #settle(): void {
    if (this.#stopped) return;
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => this.#check(), this.#options.settleMs);
  }

  /** One check at a time; events during a check (or its onChange) ask for one more after it. */
  #check(): void {
    if (this.#stopped) return;
    if (this.#checking !== undefined) {
      this.#checkAgain = true;
      return;
    }
    this.#checking = this.#checkOnce().finally(() => {
      this.#checking = undefined;
      if (this.#checkAgain && !this.#stopped) {
        this.#checkAgain = false;
        this.#check();
      }
    });
  }

  async #checkOnce(): Promise<void> {
    const { dirs, log, onChange } = this.#options;
    const next = new Map<string, string>();
    for (const dir of dirs) next.set(dir, await fingerprint(dir, log));
    if (this.#stopped) return;
    const previous = this.#fingerprints;
    this.#fingerprints = next;
    if (previous === undefined) {
      log.info({ dirs }, 'watching TLS directories for certificate rotation');
      return;
    }
    const changed = dirs.filter((dir) => previous.get(dir) !== next.get(dir));
    if (changed.length === 0) return;
    try {
      await onChange(changed);
    } catch (err) {
      log.error({ code: 'ERR_INTERNAL', err: String(err) }, 'handling a TLS change failed');
    }
  }
}

/** sha256 over the visible files' names and bytes; an unreadable directory or file counts too. */
async function fingerprint(dir: string, log: Logger): Promise<string> {
  const hash = createHash('sha256');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  } catch (err) {
    log.warn({ dir, err: String(err) }, 'the TLS directory cannot be read');
    return `unreadable:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  for (const name of names) {
    hash.update(`${name}\0`);
    try {
      hash.update(await readFile(join(dir, name)));
    } catch (err) {
      hash.update(`unreadable:${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    hash.update('\0');
  }
  return hash.digest('hex');
}

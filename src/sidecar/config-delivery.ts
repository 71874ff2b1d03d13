import { readFile } from 'node:fs/promises';
import { checkConfig } from '../config/check.ts';
import { warnAboutCertificates } from './certificate-warnings.ts';
import { LIMITS } from '../config/limits.ts';
import { configSha256 } from '../config/load.ts';
import type { ValidateOptions } from '../config/validate.ts';
import { ConfigInvalidError, formatIssue, isProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, sleepUnlessAborted, WATCH_BACKOFF } from './backoff.ts';
import { writeFileAtomic } from './config-writer.ts';
import type { ConfigMapRef, SourceUpdate } from './config-source.ts';
import type { EventRecorder } from './events.ts';
import type { ReloadConfirmation } from './reload-trigger.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';
import type { ChangeDescription } from './rollout/change-summary.ts';
import { DIRECT_ROLLOUT } from './rollout/rollout.ts';
import type { ApplyReason, Candidate, Rollout } from './rollout/rollout.ts';

export interface ConfigDeliveryOptions {
  readonly configOut: string;
  /** Names the bytes in validation messages: `configmap ns/name[key]` or the watched file. */
  readonly sourceName: string;
  /** The flags the proxy runs with, so the sidecar accepts exactly what the proxy would. */
  readonly validateOptions: ValidateOptions;
  readonly debounceMs: number;
  readonly reload: (sha256: string, signal: AbortSignal) => Promise<ReloadConfirmation | undefined>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly write?: (path: string, bytes: Uint8Array) => Promise<void>;
  /**
   * Runs each write-and-reload alone with respect to the other users of --config-out (the
   * certificate rotation): no write lands between another's read of the file and its reload.
   */
  readonly exclusive?: <T>(work: () => Promise<T>) => Promise<T>;
  /** What happens to each valid config: applied at once, or guarded (rollout/rollout.ts). */
  readonly rollout?: Rollout;
  /** One line saying what changed between two configs, for the ConfigApplied Event. */
  readonly describeChange?: (from: Buffer, to: Buffer) => ChangeDescription;
  /**
   * Runs before each config is written and reloaded (EndpointSlices: the endpoints of newly
   * named Services go out first); its failure is logged and does not stop the config.
   */
  readonly beforeApply?: (bytes: Buffer, signal: AbortSignal) => Promise<void>;
}

type ValidConfig = Candidate;

// Rejection Events carry the first few errors; the log has all of them.
const EVENT_ERRORS = 5;
// A steady stream of changes still gets delivered: the debounce waits at most this many periods.
const MAX_DEBOUNCE_PERIODS = 4;

/**
 * The sidecar's one writer. Watchers `offer` what they see; this acts on content, not events:
 * identical bytes do nothing, bursts are debounced into one delivery (the first sync is not
 * delayed), and every candidate is validated with the code `validate` uses before anything is
 * written. A valid config is written atomically, then reloaded and confirmed; a newer valid
 * config cancels the retries of an older one (it is reloaded anyway), an invalid one never
 * does (the delivered one must still reach the proxy).
 */
export class ConfigDelivery {
  readonly #options: ConfigDeliveryOptions;
  readonly #write: (path: string, bytes: Uint8Array) => Promise<void>;
  readonly #stopping = new AbortController();
  #latestKey: string | undefined;
  /** The latest content, when validation refused it: files it names may change (TLS). */
  #refused: SourceUpdate | undefined;
  #pending: SourceUpdate | undefined;
  #pendingSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #firstFlushDone = false;
  #next: ValidConfig | undefined;
  #running: Promise<void> | undefined;
  #supersede: AbortController | undefined;
  #ready = false;
  #notReadyReason = 'waiting for the first config';
  /** The config last applied and confirmed, to say what the next one changes. */
  #applied: ValidConfig | undefined;

  constructor(options: ConfigDeliveryOptions) {
    this.#options = options;
    this.#write = options.write ?? writeFileAtomic;
  }

  /** Readiness: empty once the first valid config is in place at --config-out. */
  notReady(): readonly string[] {
    return this.#ready ? [] : [this.#notReadyReason];
  }

  offer(update: SourceUpdate): void {
    if (this.#stopping.signal.aborted) return;
    const key =
      update.kind === 'content'
        ? configSha256(update.bytes)
        : `${update.kind}:${'code' in update ? update.code : ''}:${update.message}`;
    // The same content again (a re-list, a resync, an fs event for an unrelated file): nothing.
    if (key === this.#latestKey) return;
    this.#latestKey = key;
    this.#pending = update;
    this.#schedule();
  }

  /**
   * Validates the latest content again if validation refused it and nothing newer came since:
   * a config refused for a certificate file passes once the TLS Secret is fixed, with the same
   * bytes. True when it was scheduled.
   */
  recheckRefused(): boolean {
    const refused = this.#refused;
    if (refused === undefined || this.#pending !== undefined || this.#stopping.signal.aborted) {
      return false;
    }
    this.#refused = undefined;
    this.#pending = refused;
    this.#schedule();
    return true;
  }

  /** Resolves when nothing is pending, debouncing or being delivered (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#timer !== undefined || this.#running !== undefined) {
      await (this.#running ?? new Promise((resolve) => setTimeout(resolve, 10)));
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(): void {
    const { debounceMs } = this.#options;
    let delay = 0;
    if (this.#firstFlushDone) {
      const now = Date.now();
      this.#pendingSince ??= now;
      delay = Math.max(
        0,
        Math.min(debounceMs, this.#pendingSince + MAX_DEBOUNCE_PERIODS * debounceMs - now),
      );
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flush(), delay);
  }

  #flush(): void {
    this.#timer = undefined;
    const update = this.#pending;
    this.#pending = undefined;
    this.#pendingSince = undefined;
    this.#firstFlushDone = true;
    if (update === undefined || this.#stopping.signal.aborted) return;
    // Only the latest update is ever checked again.
    this.#refused = undefined;
    const { log, sourceName } = this.#options;
    if (update.kind === 'absent') {
      log.warn(
        { source: sourceName, detail: update.message },
        'nothing to deliver; the proxy keeps its current config',
      );
      if (!this.#ready) {
        this.#notReadyReason = update.message;
        this.#fallback();
      }
      return;
    }
    if (update.kind === 'invalid') {
      const reason = update.code === 'ERR_CONFIG_TOO_LARGE' ? 'too_large' : 'key_missing';
      this.#reject(update.code, reason, [update.message], update.object);
      return;
    }
    const hash = configSha256(update.bytes);
    if (update.bytes.length > LIMITS.maxFileBytes) {
      const message = `${update.bytes.length} bytes is over the ${LIMITS.maxFileBytes}-byte limit`;
      this.#reject('ERR_CONFIG_TOO_LARGE', 'too_large', [message], update.object, hash);
      return;
    }
    try {
      const { certificates } = checkConfig(update.bytes, sourceName, this.#options.validateOptions);
      warnAboutCertificates(this.#options, certificates.warnings, update.object);
    } catch (err) {
      this.#refused = update;
      if (err instanceof ConfigInvalidError) {
        const lines = err.issues.map(formatIssue);
        this.#reject(err.code, 'invalid', lines, update.object, hash);
      } else if (isProxyError(err)) {
        this.#reject(err.code, 'parse', [err.message], update.object, hash);
      } else {
        // A bug in validation: still never deliver what was not validated.
        this.#reject('ERR_INTERNAL', 'invalid', [String(err)], update.object, hash);
      }
      return;
    }
    this.#next = { bytes: update.bytes, sha256: hash, object: update.object };
    this.#supersede?.abort();
    this.#drive();
  }

  #reject(
    code: string,
    reason: string,
    errors: readonly string[],
    object: ConfigMapRef | undefined,
    hash?: string,
  ): void {
    const { log, metrics, events, sourceName } = this.#options;
    metrics.rejections.inc({ reason });
    log.error(
      { code, source: sourceName, sha256: hash, errors },
      'config rejected: not delivered; the proxy keeps serving the last good config',
    );
    const shown = errors.slice(0, EVENT_ERRORS).join('; ');
    const more = errors.length > EVENT_ERRORS ? ` (and ${errors.length - EVENT_ERRORS} more)` : '';
    events.record(
      'Warning',
      'ConfigRejected',
      `config ${hash === undefined ? '' : `sha256 ${hash.slice(0, 12)} `}rejected, not delivered; ` +
        `the proxy keeps serving its last good config: ${shown}${more}`,
      object,
    );
    if (!this.#ready) {
      this.#notReadyReason = `the first config was rejected (${code})`;
      this.#fallback();
    }
  }

  /** Nothing serves yet and the watched config cannot: the rollout may have a last good one. */
  #fallback(): void {
    const rollout = this.#options.rollout ?? DIRECT_ROLLOUT;
    rollout
      .fallback(this.#apply, this.#stopping.signal)
      .catch((err: unknown) =>
        this.#options.log.error({ err: String(err) }, 'cannot fall back to the last good config'),
      );
  }

  #drive(): void {
    if (this.#running !== undefined) return;
    this.#running = (async () => {
      while (this.#next !== undefined && !this.#stopping.signal.aborted) {
        const config = this.#next;
        this.#next = undefined;
        await this.#deliver(config);
      }
    })().finally(() => {
      this.#running = undefined;
      if (this.#next !== undefined) this.#drive();
    });
  }

  async #deliver(config: ValidConfig): Promise<void> {
    const supersede = new AbortController();
    this.#supersede = supersede;
    const signal = AbortSignal.any([supersede.signal, this.#stopping.signal]);
    const rollout = this.#options.rollout ?? DIRECT_ROLLOUT;
    try {
      await rollout.run(config, this.#apply, signal);
    } catch (err) {
      this.#options.log.error({ sha256: config.sha256, err: String(err) }, 'rollout failed');
    }
  }

  /** One write-reload-confirm, alone with respect to the certificate rotation. */
  readonly #apply = (
    config: ValidConfig,
    signal: AbortSignal,
    why: ApplyReason,
  ): Promise<boolean> => {
    const exclusive = this.#options.exclusive ?? ((work) => work());
    return exclusive(() => this.#applyNow(config, signal, why));
  };

  async #applyNow(config: ValidConfig, signal: AbortSignal, why: ApplyReason): Promise<boolean> {
    const { configOut, log, metrics, events, reload } = this.#options;
    if (signal.aborted) return false;
    await this.#options
      .beforeApply?.(config.bytes, signal)
      .catch((err: unknown) =>
        log.error({ sha256: config.sha256, err: String(err) }, 'cannot prepare the endpoints'),
      );
    if (!(await this.#writeWithRetries(config, signal))) return false;
    this.#ready = true;
    let confirmation;
    try {
      confirmation = await reload(config.sha256, signal);
    } catch (err) {
      if (signal.aborted) return false;
      const code = isProxyError(err) ? err.code : 'ERR_INTERNAL';
      const message = err instanceof Error ? err.message : String(err);
      metrics.reloads.inc({ result: 'failed' });
      metrics.lastReloadSuccessful.set(0);
      log.error(
        { code, sha256: config.sha256, path: configOut, err: message },
        'reload failed; the new config is in place and the proxy loads it when it (re)starts',
      );
      events.record(
        'Warning',
        'ReloadFailed',
        `config sha256 ${config.sha256.slice(0, 12)} was written but the proxy did not apply it ` +
          `(${code}: ${message}); it takes effect when the proxy restarts`,
        config.object,
      );
      return false;
    }
    if (confirmation === undefined) {
      log.info({ sha256: config.sha256 }, 'reload superseded by a newer config');
      return false;
    }
    const previous = this.#applied;
    this.#applied = config;
    const generation = confirmation.status.generation;
    const restart = confirmation.reload.restart_required;
    metrics.reloads.inc({ result: 'confirmed' });
    metrics.lastReloadSuccessful.set(1);
    metrics.lastReloadTimestamp.set(Date.now() / 1000);
    const change =
      previous === undefined || this.#options.describeChange === undefined
        ? undefined
        : this.#options.describeChange(previous.bytes, config.bytes);
    log.info(
      {
        sha256: config.sha256,
        generation,
        attempts: confirmation.attempts,
        outcome: confirmation.reload.outcome,
        why,
        ...(change === undefined ? {} : { change: change.summary, diff: change.lines }),
        ...(restart === undefined ? {} : { restart_required: restart }),
      },
      'config applied: the proxy confirmed it serves the delivered sha256',
    );
    const note = Array.isArray(restart)
      ? `; static fields changed and need a proxy restart: ${restart.join(', ')}`
      : '';
    // A rollback and a fallback post their own Events (rollout.ts).
    if (why === 'new' || why === 'promoted') {
      events.record(
        'Normal',
        'ConfigApplied',
        `config sha256 ${config.sha256.slice(0, 12)} applied (proxy generation ${String(generation)})` +
          `${change === undefined ? '' : `: ${change.summary}`}${note}`,
        config.object,
      );
    }
    return true;
  }

  /** True once --config-out holds the bytes; false when superseded or stopping first. */
  async #writeWithRetries(config: ValidConfig, signal: AbortSignal): Promise<boolean> {
    const { configOut, log, metrics } = this.#options;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        // The file may already hold these bytes (a restarted sidecar): no rewrite, no mtime churn.
        const unchanged = (await hashOf(configOut)) === config.sha256;
        if (!unchanged) await this.#write(configOut, config.bytes);
        metrics.deliveries.inc({ result: unchanged ? 'unchanged' : 'written' });
        log.info(
          { sha256: config.sha256, path: configOut, result: unchanged ? 'unchanged' : 'written' },
          unchanged ? 'config already in place' : 'config written',
        );
        return true;
      } catch (err) {
        const delay = backoffDelay(attempt, WATCH_BACKOFF);
        metrics.writeErrors.inc();
        log.error(
          { code: 'ERR_CONFIG_WRITE', path: configOut, err: String(err), retry_in_ms: delay },
          'cannot write the config; retrying',
        );
        await sleepUnlessAborted(delay, signal);
      }
    }
    return false;
  }
}

async function hashOf(path: string): Promise<string | undefined> {
  try {
    return configSha256(await readFile(path));
  } catch {
    return undefined; // missing or unreadable: write it, and let the write report a real problem
  }
}

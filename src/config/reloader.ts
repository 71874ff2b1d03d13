import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { errorLogFields, formatIssue, isProxyError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import { loadHtpasswdFiles, sameHtpasswd } from '../access/htpasswd-files.ts';
import type { HtpasswdSet } from '../access/htpasswd-files.ts';
import { loadPageFiles, samePageFiles } from '../error-pages/page-files.ts';
import type { PageFileSet } from '../error-pages/page-files.ts';
import { loadCertificates } from '../tls/certificates.ts';
import type { CertificateSet } from '../tls/certificates.ts';
import { checkConfig } from './check.ts';
import { lastReload } from './last-reload.ts';
import type { LastReload } from './last-reload.ts';
import { loadConfigBytes } from './load.ts';
import { compileSnapshot } from './snapshot.ts';
import type { Snapshot } from './snapshot.ts';
import type { ProxyConfig } from './types.ts';
import { diffStaticFields } from './static-diff.ts';
import type { ConfigStore } from './store.ts';
import type { ValidateOptions } from './validate.ts';

/** What a reload did. A failed reload throws instead and changes nothing. */
export interface ReloadResult {
  readonly outcome: 'applied' | 'unchanged';
  readonly generation: number;
  readonly previousSha256: string;
  readonly sha256: string;
  /** Static fields that differ from the running ones; they apply only after a restart (W6). */
  readonly restartRequired: readonly string[];
  /** Workers that could not apply it and were replaced by new ones on it (their old pids). */
  readonly workersReplaced?: readonly number[];
  /** Certificate problems it was applied with (expired pairs served, broken ones set aside). */
  readonly certificateWarnings?: number;
}

/** What putting a snapshot into service did (more than one worker: who had to be replaced). */
export interface ApplyReport {
  readonly workersReplaced?: readonly number[];
}

export interface ReloaderDeps {
  readonly path: string;
  /** The flags the process started with, reused for every reload (seed W5). */
  readonly validateOptions: ValidateOptions;
  readonly store: ConfigStore;
  /**
   * The config the process started with: its static fields are the ones actually in force,
   * whatever later reloads carried, so restart_required is computed against it.
   */
  readonly startup: ProxyConfig;
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  /**
   * Puts a compiled snapshot into service, and swaps `store` once it serves: the data path of
   * this process, or every worker's (resolving when all of them serve it). A throw means no
   * part of the proxy serves it.
   */
  readonly apply: (next: Snapshot, compileMs: number) => Promise<ApplyReport>;
}

/**
 * Reloads one at a time: read -> validate -> compile -> swap. Every caller (SIGHUP, the admin
 * socket) queues behind the same chain, so two reloads never interleave and the last file
 * read is the one that serves.
 */
export class Reloader {
  readonly #deps: ReloaderDeps;
  #queue: Promise<unknown> = Promise.resolve();
  #last: LastReload | undefined;

  constructor(deps: ReloaderDeps) {
    this.#deps = deps;
  }

  reload(trigger: string): Promise<ReloadResult> {
    // Recorded before the caller resumes, so a `status` right after a reply shows this reload.
    const run = this.#queue
      .then(() => this.#reloadNow(trigger))
      .then(
        (result) => {
          this.#last = lastReload(result.outcome);
          return result;
        },
        (err: unknown) => {
          this.#last = lastReload('failed', isProxyError(err) ? err.code : undefined);
          throw err;
        },
      );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The last reload's time, outcome and error code (none yet: undefined), for `status`. */
  lastReload(): LastReload | undefined {
    return this.#last;
  }

  async #reloadNow(trigger: string): Promise<ReloadResult> {
    const { path, validateOptions, store, startup, log, metrics } = this.#deps;
    const running = store.current();
    try {
      const file = await loadConfigBytes(path);
      if (file.sha256 === running.sha256) {
        // The same config: the certificate, htpasswd and page files may still have changed.
        const certificates = loadCertificates(running.config.tls, running.certificates);
        const htpasswd = loadHtpasswdFiles(running.config, running.htpasswd);
        const pages = loadPageFiles(running.config, running.pageFiles);
        if (
          sameCertificates(certificates, running.certificates) &&
          sameHtpasswd(htpasswd, running.htpasswd) &&
          samePageFiles(pages, running.pageFiles)
        ) {
          metrics.reloads.inc({ result: 'unchanged' });
          markSuccess(metrics);
          const changedStatic = diffStaticFields(startup, running.config);
          log.info(
            { trigger, sha256: file.sha256, restart_required: changedStatic },
            'reload: config unchanged',
          );
          return result('unchanged', running, running, changedStatic);
        }
        return await this.#apply(trigger, running, running.config, file.sha256, {
          certificates,
          htpasswd,
          pages,
        });
      }
      const { config, ...files } = checkConfig(
        file.bytes,
        path,
        validateOptions,
        running.certificates,
        running.htpasswd,
        running.pageFiles,
      );
      return await this.#apply(trigger, running, config, file.sha256, files);
    } catch (err) {
      this.#failed(trigger, running, err);
      throw err;
    }
  }

  async #apply(
    trigger: string,
    running: Snapshot,
    config: ProxyConfig,
    sha256: string,
    files: { certificates: CertificateSet; htpasswd: HtpasswdSet; pages: PageFileSet },
  ): Promise<ReloadResult> {
    const { startup, log, metrics } = this.#deps;
    const { certificates, htpasswd, pages } = files;
    const started = performance.now();
    const generation = running.generation + 1;
    const next = compileSnapshot(config, sha256, generation, certificates, htpasswd, pages);
    // Workers compile it again each: their deadline is measured against this compile.
    const report = await this.#deps.apply(next, performance.now() - started);
    const changedStatic = diffStaticFields(startup, config);
    metrics.reloads.inc({ result: 'applied' });
    metrics.generation.set(next.generation);
    metrics.sites.set(config.sites.length);
    markSuccess(metrics);
    log.info(
      {
        trigger,
        generation: next.generation,
        previous_sha256: running.sha256,
        sha256: next.sha256,
        sites: config.sites.length,
        restart_required: changedStatic,
        certificates_changed: !sameCertificates(certificates, running.certificates),
        ...(report.workersReplaced === undefined
          ? {}
          : { workers_replaced: report.workersReplaced }),
        ...(certificates.warnings.length === 0
          ? {}
          : { certificate_warnings: certificates.warnings.map(formatIssue) }),
        ...(sameHtpasswd(htpasswd, running.htpasswd) ? {} : { htpasswd_changed: true }),
        ...(htpasswd.warnings.length === 0
          ? {}
          : { htpasswd_warnings: htpasswd.warnings.map(formatIssue) }),
        ...(samePageFiles(pages, running.pageFiles) ? {} : { error_pages_changed: true }),
        ...(pages.warnings.length === 0
          ? {}
          : { error_page_warnings: pages.warnings.map(formatIssue) }),
      },
      changedStatic.length > 0
        ? `reload applied; static fields changed (restart required): ${changedStatic.join(', ')}`
        : 'reload applied',
    );
    return {
      ...result('applied', running, next, changedStatic),
      ...report,
      ...(certificates.warnings.length === 0
        ? {}
        : { certificateWarnings: certificates.warnings.length }),
    };
  }

  #failed(trigger: string, running: Snapshot, err: unknown): void {
    const { log, metrics } = this.#deps;
    const code = isProxyError(err) ? err.code : 'ERR_INTERNAL';
    metrics.reloads.inc({ result: 'failed' });
    metrics.reloadFailures.inc({ code });
    metrics.lastReloadSuccessful.set(0);
    // The shape of serve's start failure too: one query on `code` and `errors` finds both.
    log.error(
      { trigger, ...errorLogFields(err), generation: running.generation },
      'reload failed; the previous config keeps serving',
    );
  }
}

/**
 * Same pairs, same bytes, same order, and the same problems: nothing for the listeners to
 * swap, and nothing new to warn of (a pair that broke under an unchanged config keeps its
 * old version, and that is news).
 */
function sameCertificates(a: CertificateSet, b: CertificateSet): boolean {
  return (
    a.minVersion === b.minVersion &&
    a.list.length === b.list.length &&
    a.list.every((cert, i) => cert === b.list[i]) &&
    a.warnings.length === b.warnings.length &&
    a.warnings.every((w, i) => formatIssue(w) === formatIssue(b.warnings[i] as ConfigIssue))
  );
}

function markSuccess(metrics: ProxyMetrics): void {
  metrics.lastReloadSuccessful.set(1);
  metrics.lastReloadSuccessTimestamp.set(Date.now() / 1000);
}

function result(
  outcome: ReloadResult['outcome'],
  previous: Snapshot,
  current: Snapshot,
  restartRequired: readonly string[],
): ReloadResult {
  return {
    outcome,
    generation: current.generation,
    previousSha256: previous.sha256,
    sha256: current.sha256,
    restartRequired,
  };
}

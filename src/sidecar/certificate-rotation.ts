import { readFile } from 'node:fs/promises';
import { checkConfig } from '../config/check.ts';
import { warnAboutCertificates } from './certificate-warnings.ts';
import { configSha256 } from '../config/load.ts';
import type { ValidateOptions } from '../config/validate.ts';
import { ConfigInvalidError, formatIssue, isProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { EventRecorder } from './events.ts';
import type { ReloadConfirmation } from './reload-trigger.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export interface CertificateRotationOptions {
  /** The config the sidecar delivered: the one the proxy runs, naming the certificate files. */
  readonly configOut: string;
  readonly validateOptions: ValidateOptions;
  readonly reload: (sha256: string, signal: AbortSignal) => Promise<ReloadConfirmation | undefined>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly signal: AbortSignal;
}

// Rejection Events carry the first few errors; the log has all of them.
const EVENT_ERRORS = 5;

/**
 * What a change in a --tls-dir does: validate the delivered config again with the code the
 * proxy's reload uses (checkConfigBytes re-reads every certificate and key), and only if it
 * passes, reload the proxy and confirm it still serves the same config sha256. A pair the
 * proxy could not start on (missing, mismatched, not PEM, with nothing else serving its names)
 * reloads nothing: the proxy keeps the certificates it holds in memory, and the log, the
 * metric and a Warning Event (when Events are on) say why. An expired pair is served with a
 * Warning Event (CertificateWarnings), as the proxy serves it with a warning.
 */
export function certificateRotation(
  options: CertificateRotationOptions,
): (dirs: readonly string[]) => Promise<void> {
  return async (dirs) => {
    const { configOut, validateOptions, reload, events, log, metrics, signal } = options;
    let bytes: Buffer;
    try {
      bytes = await readFile(configOut);
    } catch (err) {
      metrics.certificateReloads.inc({ result: 'no_config' });
      log.warn(
        { dirs, path: configOut, err: String(err) },
        'TLS files changed but no config is delivered yet; the proxy reads them when it loads one',
      );
      return;
    }
    const sha256 = configSha256(bytes);
    try {
      const { certificates } = checkConfig(bytes, configOut, validateOptions);
      warnAboutCertificates(options, certificates.warnings);
    } catch (err) {
      const errors =
        err instanceof ConfigInvalidError
          ? err.issues.map(formatIssue)
          : [err instanceof Error ? err.message : String(err)];
      const code = isProxyError(err) ? err.code : 'ERR_INTERNAL';
      metrics.certificateReloads.inc({ result: 'rejected' });
      log.error(
        { code, dirs, sha256, errors },
        'new TLS files rejected: no reload; the proxy keeps serving its current certificates',
      );
      const shown = errors.slice(0, EVENT_ERRORS).join('; ');
      const more =
        errors.length > EVENT_ERRORS ? ` (and ${errors.length - EVENT_ERRORS} more)` : '';
      events.record(
        'Warning',
        'CertificatesRejected',
        `new TLS files in ${dirs.join(', ')} rejected, not reloaded; ` +
          `the proxy keeps serving its current certificates: ${shown}${more}`,
      );
      return;
    }
    let confirmation;
    try {
      confirmation = await reload(sha256, signal);
    } catch (err) {
      if (signal.aborted) return;
      const code = isProxyError(err) ? err.code : 'ERR_INTERNAL';
      const message = err instanceof Error ? err.message : String(err);
      metrics.certificateReloads.inc({ result: 'failed' });
      log.error(
        { code, dirs, sha256, err: message },
        'TLS files changed but the reload failed; the proxy reads them when it next (re)loads',
      );
      events.record(
        'Warning',
        'ReloadFailed',
        `new TLS files in ${dirs.join(', ')} are valid but the proxy did not reload (${code}: ${message})`,
      );
      return;
    }
    if (confirmation === undefined) return; // stopping
    metrics.certificateReloads.inc({ result: 'reloaded' });
    log.info(
      {
        dirs,
        sha256,
        generation: confirmation.status.generation,
        attempts: confirmation.attempts,
      },
      'certificates reloaded: the proxy re-read the TLS files',
    );
    events.record(
      'Normal',
      'CertificatesReloaded',
      `new TLS files in ${dirs.join(', ')} validated and reloaded (proxy generation ${String(confirmation.status.generation)})`,
    );
  };
}

import { checkConfigBytes } from '../../config/check.ts';
import { diffConfigs, formatDiff, summarize } from '../../config/config-diff.ts';
import type { ValidateOptions } from '../../config/validate.ts';

/** What changed between two configs: the `diff` lines for the log, one line for Events. */
export interface ChangeDescription {
  readonly summary: string;
  readonly lines: readonly string[];
}

/**
 * `reverse-proxy diff` between two configs the sidecar already validated (the same code, so
 * the same defaults). Never throws: a config it cannot read again (a certificate file gone
 * since) says so instead of stopping a delivery or a rollback.
 */
export function describeChange(
  from: Buffer,
  to: Buffer,
  options: ValidateOptions,
): ChangeDescription {
  try {
    const diff = diffConfigs(
      checkConfigBytes(from, 'previous config', options),
      checkConfigBytes(to, 'new config', options),
    );
    return { summary: summarize(diff), lines: formatDiff(diff) };
  } catch (err) {
    return { summary: `not compared (${(err as Error).message.split('\n')[0]})`, lines: [] };
  }
}

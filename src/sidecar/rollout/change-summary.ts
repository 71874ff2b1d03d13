import { checkConfigBytes } from '../../config/check.ts';
import { diffConfigs } from '../../config/config-diff.ts';
import { formatDiff, summarize } from '../../config/config-diff-text.ts';
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

/**
 * describeChange for one sidecar, remembering its last answer: the rollout (ConfigBaking) and
 * the delivery (ConfigApplied) describe the same pair of configs, the same Buffer objects, one
 * right after the other, and each description validates both configs again.
 */
export function changeDescriber(
  options: ValidateOptions,
): (from: Buffer, to: Buffer) => ChangeDescription {
  let last: { from: Buffer; to: Buffer; description: ChangeDescription } | undefined;
  return (from, to) => {
    if (last?.from !== from || last.to !== to) {
      last = { from, to, description: describeChange(from, to, options) };
    }
    return last.description;
  };
}

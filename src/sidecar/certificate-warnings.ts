import { formatIssue } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ConfigMapRef } from './config-source.ts';
import type { EventRecorder } from './events.ts';

// An Event carries the first few; the log has all of them.
const SHOWN = 5;

/**
 * A config the proxy will serve with certificate problems (an expired pair served, a broken
 * one set aside): delivered all the same, and said where operators look, in the log and in a
 * Warning Event on the ConfigMap, since the proxy's own warning is in another container's log.
 */
export function warnAboutCertificates(
  options: { readonly log: Logger; readonly events: EventRecorder },
  warnings: readonly ConfigIssue[],
  object?: ConfigMapRef,
): void {
  if (warnings.length === 0) return;
  const lines = warnings.map(formatIssue);
  options.log.warn(
    { certificate_warnings: lines },
    'certificate problems: the proxy serves around them',
  );
  const more = lines.length > SHOWN ? ` (and ${lines.length - SHOWN} more)` : '';
  options.events.record(
    'Warning',
    'CertificateWarnings',
    `certificate problems, served around: ${lines.slice(0, SHOWN).join('; ')}${more}`,
    object,
  );
}

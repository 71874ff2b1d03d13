import { ERROR_CODES } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';

/**
 * What `status` tells about the last reload: when, what came of it, and for a failure its
 * error code. Nothing else, by construction: a client may learn that a reload failed and of
 * which kind, never the paths or messages that say why (seed C3); the log has those.
 */
export interface LastReload {
  /** ISO 8601, like the log's `time`. */
  readonly time: string;
  readonly outcome: 'applied' | 'unchanged' | 'failed';
  readonly code?: ErrorCode;
}

export function lastReload(
  outcome: LastReload['outcome'],
  code?: string,
  now: Date = new Date(),
): LastReload {
  if (outcome !== 'failed') return { time: now.toISOString(), outcome };
  // Only a registered code, whatever was thrown: an unknown one would be text from elsewhere.
  const known = code !== undefined && Object.hasOwn(ERROR_CODES, code);
  return { time: now.toISOString(), outcome, code: known ? (code as ErrorCode) : 'ERR_INTERNAL' };
}

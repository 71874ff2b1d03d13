import type { Failure } from '../http1/upstream-error.ts';

/** RFC 9110 §9.2.2; TRACE is refused at the door (request-guard.ts). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** The failures that mean the request never reached an upstream. */
const NOT_SENT = new Set<Failure>(['refused', 'connect_timeout', 'dns']);

/**
 * Whether a failed attempt may be sent again, judged on the request alone (the engine adds
 * attempts left and the budget). Bodies are streamed, never buffered, so a request with a body
 * cannot be replayed: once undici started sending it, its bytes are gone. Without a body:
 * - a failure to connect (refused, unreachable, connect timeout, DNS): any method, since the
 *   upstream never saw the request;
 * - a reset or a 502/503 answer after the request went out: idempotent methods only (GET,
 *   HEAD, OPTIONS, PUT, DELETE), since the upstream may have acted on it. A POST is never
 *   sent twice.
 * Response timeouts (504) are not retried: the upstream may still be working on it.
 */
export function replayable(method: string, hasBody: boolean, failure: Failure): boolean {
  if (hasBody) return false;
  if (NOT_SENT.has(failure)) return true;
  if (failure !== 'reset' && failure !== 'bad_status') return false;
  return IDEMPOTENT.has(method);
}

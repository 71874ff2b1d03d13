import { sendAdminCommand } from '../admin/admin-client.ts';
import type { AdminReply } from '../admin/admin-protocol.ts';
import { CLIENT_ERRORS } from '../admin/admin-protocol.ts';
import { isProxyError, ProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, sleepUnlessAborted } from './backoff.ts';
import type { BackoffPolicy } from './backoff.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

/** How to reach the proxy: the same client, uid check and token as `ctl`. */
export interface AdminTarget {
  readonly socketPath: string;
  readonly expectedUids: readonly number[];
  readonly token?: string | undefined;
  readonly timeoutMs: number;
}

export interface ReloadTriggerOptions {
  readonly target: AdminTarget;
  /** Attempts before giving up on one delivery (the first one included). */
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly send?: typeof sendAdminCommand;
}

/** The proxy runs the delivered bytes: its reload reply and the confirming status. */
export interface ReloadConfirmation {
  readonly attempts: number;
  readonly reload: AdminReply;
  readonly status: AdminReply;
}

/** Retries while the proxy is restarting (0.5 s doubling to 10 s, jittered). */
export const RELOAD_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 10_000 };

/** A failed attempt: why (the metric label), and whether another attempt can change it. */
interface AttemptFailure {
  readonly reason: string;
  readonly retry: boolean;
  readonly error: ProxyError;
}

/**
 * Asks the proxy to reload, then confirms with `status` that it serves exactly the delivered
 * bytes (config_sha256): an "ok" alone could be a reload of some other file. Unreachable
 * sockets and dropped connections are retried with back-off (the proxy restarting, or not
 * started yet); an "error" reply and an untrusted socket owner are not, since repeating the
 * same request gets the same answer. Resolves undefined when `signal` aborts (a newer config
 * superseded this one); throws the last failure's ProxyError after the last attempt.
 */
export async function reloadAndConfirm(
  options: ReloadTriggerOptions,
  sha256: string,
  signal: AbortSignal,
): Promise<ReloadConfirmation | undefined> {
  const { maxAttempts, backoff, log, metrics } = options;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) return undefined;
    const result = await attemptOnce(options, sha256);
    if ('reload' in result) return { attempts: attempt, ...result };
    metrics.reloadErrors.inc({ reason: result.reason });
    const last = !result.retry || attempt >= maxAttempts;
    const delay = last ? 0 : backoffDelay(attempt - 1, backoff);
    log.warn(
      {
        code: result.error.code,
        reason: result.reason,
        attempt,
        max_attempts: maxAttempts,
        sha256,
        ...(last ? {} : { retry_in_ms: delay }),
      },
      `reload attempt failed: ${result.error.message}${last ? '' : '; retrying'}`,
    );
    if (last) throw result.error;
    if (!(await sleepUnlessAborted(delay, signal))) return undefined;
  }
}

async function attemptOnce(
  options: ReloadTriggerOptions,
  sha256: string,
): Promise<{ reload: AdminReply; status: AdminReply } | AttemptFailure> {
  const send = options.send ?? sendAdminCommand;
  const ask = (command: string) => send({ ...options.target, command });
  try {
    const reload = await ask('reload');
    if (reload.status !== 'ok') {
      const message = reload.message ?? 'no message';
      return {
        reason: 'rejected',
        // The one error the proxy asks to retry (seed W2: the file moved while it was read).
        retry: message === CLIENT_ERRORS.changedDuringRead,
        error: new ProxyError(
          'ERR_RELOAD_REJECTED',
          `the proxy refused the reload ("${message}"); it keeps serving its previous config, its log says why`,
        ),
      };
    }
    const status = await ask('status');
    if (status.status === 'ok' && status.config_sha256 === sha256) return { reload, status };
    return {
      reason: 'not_confirmed',
      // Another writer may have raced us; the next attempt reloads the file again.
      retry: true,
      error: new ProxyError(
        'ERR_RELOAD_NOT_CONFIRMED',
        `after the reload the proxy serves sha256 ${String(status.config_sha256)}, not the delivered ${sha256}`,
      ),
    };
  } catch (err) {
    if (!isProxyError(err)) throw err;
    switch (err.code) {
      case 'ERR_ADMIN_UNREACHABLE':
        return { reason: 'unreachable', retry: true, error: err };
      case 'ERR_ADMIN_PROTOCOL':
        return { reason: 'protocol', retry: true, error: err };
      case 'ERR_ADMIN_SERVER_UNTRUSTED':
        // Nothing was sent; a socket served by a stranger is not something to wait out.
        return { reason: 'untrusted', retry: false, error: err };
      default:
        throw err;
    }
  }
}

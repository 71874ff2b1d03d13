import type { LastReload } from '../config/last-reload.ts';
import type { ReloadResult } from '../config/reloader.ts';
import type { ConfigStore } from '../config/store.ts';
import { isProxyError } from '../errors.ts';
import { CLIENT_ERRORS, errorReply } from './admin-protocol.ts';
import type { AdminReply } from './admin-protocol.ts';
import { packageVersion } from '../version.ts';
import type { WorkerStatus } from '../workers/worker-set.ts';
import type { EndpointSource } from '../endpoints/endpoint-source.ts';
import { updateEndpoints } from './endpoints-command.ts';

export interface AdminCommandDeps {
  readonly store: ConfigStore;
  /** The same reloader SIGHUP uses: one queue, one code path. */
  readonly reloader: {
    reload(trigger: string): Promise<ReloadResult>;
    lastReload(): LastReload | undefined;
  };
  /** When the process started (ms since the epoch), for uptime. */
  readonly startedAt: number;
  readonly now?: () => number;
  /** The workers (pid, generation), when the proxy runs several. */
  readonly workers?: (() => readonly WorkerStatus[]) | undefined;
  /** `--endpoints-file` (undefined: the proxy has no endpoint source). */
  readonly endpoints?: EndpointSource | undefined;
}

/** What a command answered, and what the audit log records about it (never sent). */
export interface CommandOutcome {
  readonly reply: AdminReply;
  readonly outcome: 'ok' | 'error' | 'unknown_command';
  readonly audit: Readonly<Record<string, unknown>>;
}

export type RunCommand = (command: string, trigger: string) => Promise<CommandOutcome>;

/**
 * `status`, `reload` and `endpoints`, and the one place their errors become replies (STYLE habit 7): the
 * client gets fixed texts, the audit record gets the error code; the reloader itself logs the
 * full detail (seed C3).
 */
export function createAdminCommands(deps: AdminCommandDeps): RunCommand {
  const now = deps.now ?? Date.now;
  return async (command, trigger) => {
    if (command === 'status') {
      const snapshot = deps.store.current();
      return {
        outcome: 'ok',
        reply: {
          status: 'ok',
          uptime_secs: Math.floor((now() - deps.startedAt) / 1000),
          sites: snapshot.config.sites.length,
          generation: snapshot.generation,
          config_sha256: snapshot.sha256,
          version: packageVersion(),
          last_reload: statusOfLastReload(deps.reloader.lastReload()),
          ...(deps.workers === undefined ? {} : { workers: deps.workers() }),
        },
        audit: { generation: snapshot.generation, sha256: snapshot.sha256 },
      };
    }
    if (command === 'reload') return reload(deps, trigger);
    if (command === 'endpoints') return updateEndpoints(deps.endpoints, trigger);
    return {
      outcome: 'unknown_command',
      reply: errorReply(CLIENT_ERRORS.unknownCommand),
      audit: {},
    };
  };
}

/**
 * The last reload as `status` shows it, null before the first. Rebuilt field by field rather
 * than passed on, so that nothing added to LastReload later reaches a client unnoticed (C3).
 */
function statusOfLastReload(last: LastReload | undefined): Record<string, string> | null {
  if (last === undefined) return null;
  const { time, outcome, code } = last;
  return code === undefined ? { time, outcome } : { time, outcome, code };
}

async function reload(deps: AdminCommandDeps, trigger: string): Promise<CommandOutcome> {
  const running = deps.store.current();
  try {
    const result = await deps.reloader.reload(trigger);
    const changed = result.restartRequired;
    return {
      outcome: 'ok',
      reply: {
        status: 'ok',
        outcome: result.outcome,
        generation: result.generation,
        config_sha256: result.sha256,
        // Seed W6: the caller learns that part of what it asked for needs a restart.
        ...(changed.length > 0
          ? {
              restart_required: changed,
              message: `static fields changed (restart required): ${changed.join(', ')}`,
            }
          : {}),
        // How many certificate warnings it was applied with: a count, never the paths (C3).
        ...(result.certificateWarnings === undefined
          ? {}
          : { certificate_warnings: result.certificateWarnings }),
        // Workers that could not apply it were replaced by new ones serving it.
        ...(result.workersReplaced === undefined
          ? {}
          : { workers_replaced: result.workersReplaced }),
      },
      audit: {
        reload: result.outcome,
        previous_sha256: result.previousSha256,
        sha256: result.sha256,
        generation: result.generation,
        restart_required: changed,
      },
    };
  } catch (err) {
    const code = isProxyError(err) ? err.code : 'ERR_INTERNAL';
    // W2 is the one failure whose cause the client may know: retrying is the fix.
    const message =
      code === 'ERR_CONFIG_CHANGED_DURING_READ'
        ? CLIENT_ERRORS.changedDuringRead
        : CLIENT_ERRORS.reloadFailed;
    return {
      outcome: 'error',
      reply: errorReply(message),
      audit: { code, previous_sha256: running.sha256, sha256: deps.store.current().sha256 },
    };
  }
}

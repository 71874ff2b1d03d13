import type http from 'node:http';
import { startAdminServer } from './admin/admin-server.ts';
import type { AdminServer } from './admin/admin-server.ts';
import { TOKEN_ENV } from './admin/admin-protocol.ts';
import { createAdminCommands } from './admin/commands.ts';
import { listenUnixSocket } from './admin/unix-listener.ts';
import type { UnixListener } from './admin/unix-listener.ts';
import { parseListenAddress } from './config/address.ts';
import type { Reloader } from './config/reloader.ts';
import type { ConfigStore } from './config/store.ts';
import type { ProxyConfig } from './config/types.ts';
import { buildHealthApp } from './health/health-app.ts';
import { createHealthServer, listenHealth } from './health/health-server.ts';
import type { Logger } from './log.ts';
import type { MetricsSource } from './health/metrics-route.ts';
import type { WorkerStatus } from './workers/worker-set.ts';
import type { EndpointSource } from './endpoints/endpoint-source.ts';

export interface ManagementDeps {
  readonly config: ProxyConfig;
  readonly store: ConfigStore;
  readonly reloader: Reloader;
  /** What /metrics serves. */
  readonly metrics: MetricsSource;
  /** The workers, for `ctl status`, when there are several. */
  readonly workers?: (() => WorkerStatus[]) | undefined;
  /** `--endpoints-file`, for the `endpoints` command (undefined: no endpoint source). */
  readonly endpoints?: EndpointSource | undefined;
  readonly log: Logger;
  readonly startedAt: number;
  /** Conditions of the data path (listeners, draining); the admin socket's is added here. */
  readonly notReady: () => readonly string[];
}

/** The side channels of a running proxy: health on TCP and/or a Unix socket, and admin. */
export interface Management {
  readonly healthAddress?: string | undefined;
  readonly healthSocket?: string | undefined;
  readonly adminSocket?: string | undefined;
  close(): void;
}

/**
 * Starts health (TCP, then the optional Unix socket: seed W7) and the admin socket, all or
 * nothing: a proxy that cannot be reloaded must not start, so a failure closes whatever
 * already listens and rethrows.
 */
export async function startManagement(deps: ManagementDeps): Promise<Management> {
  const { config, log } = deps;
  let admin: AdminServer | undefined;
  const readiness = {
    notReady: () => [
      ...deps.notReady(),
      // Not ready when the admin socket should listen and does not: it could not be reloaded.
      ...(config.admin.socket !== '' && admin?.listening !== true ? ['admin'] : []),
    ],
  };
  const app = buildHealthApp({ readiness, registry: deps.metrics });
  const closers: (() => void)[] = [];
  const close = () => {
    for (const closeOne of closers.splice(0).reverse()) closeOne();
  };
  try {
    let healthAddress: string | undefined;
    if (config.health.address !== '') {
      const parsed = parseListenAddress(config.health.address);
      if ('error' in parsed) throw new Error(`unvalidated address ${config.health.address}`);
      const tcp = await listenHealth(app, parsed, config.health.max_connections);
      closers.push(() => closeHttp(tcp.server));
      healthAddress = tcp.bound;
    }
    const healthSocket = config.health.socket;
    if (healthSocket !== undefined && healthSocket !== '') {
      const server = createHealthServer(app, config.health.max_connections);
      const listener: UnixListener = await listenUnixSocket(server, healthSocket);
      closers.push(() => {
        server.closeAllConnections();
        listener.close();
      });
    }
    if (config.admin.socket !== '') {
      // Read once: a later change of the environment cannot change who is let in.
      const token = process.env[TOKEN_ENV];
      admin = await startAdminServer({
        config: config.admin,
        log,
        token,
        ownUid: process.geteuid?.() ?? -1,
        run: createAdminCommands({
          store: deps.store,
          reloader: deps.reloader,
          startedAt: deps.startedAt,
          workers: deps.workers,
          endpoints: deps.endpoints,
        }),
      });
      const started = admin;
      closers.push(() => started.close());
      log.info(
        {
          socket: admin.path,
          mode: admin.mode.toString(8),
          token: token === undefined || token === '' ? 'not set' : 'required',
          removed_stale_socket: admin.removedStale,
        },
        'admin socket listening',
      );
    }
    return {
      healthAddress,
      healthSocket: healthSocket === '' ? undefined : healthSocket,
      adminSocket: admin?.path,
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

function closeHttp(server: http.Server): void {
  server.close();
  server.closeAllConnections();
}

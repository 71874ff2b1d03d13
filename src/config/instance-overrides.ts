import { configSchema } from './schema.ts';
import type { ProxyConfig, WorkersSetting } from './types.ts';

/**
 * `serve --admin-socket` / `--health-address` / `--workers`: this process's own values for
 * three static keys.
 */
export interface InstanceOverrides {
  readonly adminSocket?: string | undefined;
  readonly healthAddress?: string | undefined;
  readonly workers?: WorkersSetting | undefined;
}

/** What is wrong with the values, checked by the same schema rules as the file's, or undefined. */
export function instanceOverrideProblem(o: InstanceOverrides): string | undefined {
  const { error } = configSchema.validate({
    listeners: [{ address: '127.0.0.1:1' }],
    admin: o.adminSocket === undefined ? {} : { socket: o.adminSocket },
    health: o.healthAddress === undefined ? {} : { address: o.healthAddress },
    ...(o.workers === undefined ? {} : { workers: o.workers }),
  });
  if (error === undefined) return undefined;
  const detail = error.details[0];
  const flags: Record<string, string> = {
    admin: '--admin-socket',
    health: '--health-address',
    workers: '--workers',
  };
  const flag = flags[String(detail?.path[0])] ?? '--health-address';
  return `${flag}: ${detail?.message.replace(/^"[^"]*" /, '') ?? error.message}`;
}

/** The config this process runs its admin socket and health listener from. */
export function applyInstanceOverrides(config: ProxyConfig, o: InstanceOverrides): ProxyConfig {
  if (o.adminSocket === undefined && o.healthAddress === undefined) return config;
  return {
    ...config,
    admin: o.adminSocket === undefined ? config.admin : { ...config.admin, socket: o.adminSocket },
    health:
      o.healthAddress === undefined
        ? config.health
        : { ...config.health, address: o.healthAddress },
  };
}

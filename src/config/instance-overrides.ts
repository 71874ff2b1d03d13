import { configSchema } from './schema.ts';
import type { ProxyConfig } from './types.ts';

/** `serve --admin-socket` / `--health-address`: this process's own values for two static keys. */
export interface InstanceOverrides {
  readonly adminSocket?: string | undefined;
  readonly healthAddress?: string | undefined;
}

/** What is wrong with the values, checked by the same schema rules as the file's, or undefined. */
export function instanceOverrideProblem(o: InstanceOverrides): string | undefined {
  const { error } = configSchema.validate({
    listeners: [{ address: '127.0.0.1:1' }],
    admin: o.adminSocket === undefined ? {} : { socket: o.adminSocket },
    health: o.healthAddress === undefined ? {} : { address: o.healthAddress },
  });
  if (error === undefined) return undefined;
  const detail = error.details[0];
  const flag = detail?.path[0] === 'admin' ? '--admin-socket' : '--health-address';
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

/** The validated config, exactly as the schema returns it (defaults applied, keys in snake_case). */
export interface ListenerConfig {
  readonly address: string;
}

export interface AdminConfig {
  readonly socket: string;
  readonly allowed_uids: readonly number[];
  readonly max_connections: number;
  readonly socket_group?: number | undefined;
}

export interface HealthConfig {
  readonly address: string;
  readonly socket?: string | undefined;
  readonly max_connections: number;
}

export interface ShutdownConfig {
  readonly drain_delay_ms: number;
  readonly grace_period_ms: number;
}

export interface LogConfig {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly access_log: boolean;
}

export interface RouteConfig {
  readonly path: string;
  readonly upstream: string;
  readonly timeout_ms: number;
}

export interface SiteConfig {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly routes: readonly RouteConfig[];
}

export interface ProxyConfig {
  readonly listeners: readonly ListenerConfig[];
  readonly admin: AdminConfig;
  readonly health: HealthConfig;
  readonly shutdown: ShutdownConfig;
  readonly log: LogConfig;
  readonly sites: readonly SiteConfig[];
}

/** Top-level keys applied only at start; a reload reports their changes instead (seed W6). */
export const STATIC_KEYS = ['listeners', 'admin', 'health', 'shutdown', 'log'] as const;

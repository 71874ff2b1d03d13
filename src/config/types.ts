import type { RedirectConfig } from '../routing/redirect.ts';

/** The validated config, exactly as the schema returns it (defaults applied, keys in snake_case). */
export interface ListenerConfig {
  readonly address: string;
  readonly tls: boolean;
  /** Unset: on for TLS listeners (ALPN h2, then http/1.1). */
  readonly http2?: boolean | undefined;
}

export interface CertificateConfig {
  readonly cert_file: string;
  readonly key_file: string;
}

/** Dynamic: the files are read again on every reload. */
export interface TlsConfig {
  readonly min_version: 'TLSv1.2' | 'TLSv1.3';
  readonly certificates: readonly CertificateConfig[];
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

/** How long a client may take to send a request, and to stay idle between requests. */
export interface ClientConfig {
  readonly header_timeout_ms: number;
  readonly body_idle_timeout_ms: number;
  /** 0: no minimum. */
  readonly body_min_rate_bytes_per_s: number;
  /** 0: no whole-request deadline. */
  readonly request_timeout_ms: number;
  readonly keepalive_timeout_ms: number;
}

/** Per upstream origin: connections at most, and requests that may wait for one. */
export interface UpstreamPoolConfig {
  readonly max_connections: number;
  readonly max_queued: number;
}

export interface ShutdownConfig {
  readonly drain_delay_ms: number;
  readonly grace_period_ms: number;
}

export interface LogConfig {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly access_log: boolean;
}

export interface UrlUpstreamConfig {
  readonly url: string;
  readonly weight: number;
}

/** `{service, port, weight}`: the endpoints of a Service, from the endpoint source (issue 22). */
export interface ServiceUpstreamConfig {
  readonly service: string;
  /** A port name of the Service, or the endpoints' port number. */
  readonly port: string | number;
  readonly weight: number;
}

export type UpstreamEntryConfig = UrlUpstreamConfig | ServiceUpstreamConfig;

export type BalanceMode = 'round_robin' | 'least_request' | 'random';

export interface HealthCheckConfig {
  readonly path: string;
  readonly interval_ms: number;
  readonly timeout_ms: number;
  readonly healthy_threshold: number;
  readonly unhealthy_threshold: number;
}

export interface HeaderRulesConfig {
  readonly set?: Readonly<Record<string, string>> | undefined;
  readonly add?: Readonly<Record<string, string>> | undefined;
  readonly remove?: readonly string[] | undefined;
}

export type PathMatchMode = 'prefix' | 'exact' | 'regex';

/** Exactly one of `upstream`, `upstreams` and `redirect` is set (the schema's xor). */
export interface RouteConfig extends LimitsConfig {
  /** A path prefix, an exact path, or a pattern (path_match: regex). */
  readonly path: string;
  readonly path_match: PathMatchMode;
  readonly methods?: readonly string[] | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly query?: Readonly<Record<string, string>> | undefined;
  readonly rewrite?: { readonly path: string } | undefined;
  readonly redirect?: RedirectConfig | undefined;
  readonly upstream?: string | undefined;
  readonly upstreams?: readonly UpstreamEntryConfig[] | undefined;
  readonly balance: BalanceMode;
  /** `timeout_ms` (the v1 key) is read as `timeouts.response_ms` by the schema. */
  readonly timeouts: {
    readonly connect_ms: number;
    readonly response_ms: number;
    readonly idle_ms: number;
  };
  readonly health_check?: HealthCheckConfig | undefined;
  /** consecutive_failures 0: off. */
  readonly passive_health: { readonly consecutive_failures: number; readonly ejection_ms: number };
  readonly retries: { readonly attempts: number; readonly budget_percent: number };
  readonly strip_prefix: boolean;
  /** gzip or br for compressible responses the client accepts (proxy/response-compression.ts). */
  readonly compress?: boolean | undefined;
  readonly request_headers?: HeaderRulesConfig | undefined;
  readonly response_headers?: HeaderRulesConfig | undefined;
  readonly affinity?: AffinityConfig | undefined;
  readonly cors?: CorsConfig | undefined;
}

/** `affinity` on a route: sticky to one upstream by a cookie the proxy sets. */
export interface AffinityConfig {
  readonly cookie: string;
  /** Absent: a session cookie. */
  readonly max_age_s?: number | undefined;
  /** True: Secure on every Set-Cookie, not only on TLS connections. */
  readonly secure: boolean;
}

/** `cors` on a route: origins as browsers send them, or `["*"]` (never with credentials). */
export interface CorsConfig {
  readonly allow_origins: readonly string[];
  readonly allow_methods: readonly string[];
  readonly allow_headers: readonly string[];
  readonly expose_headers: readonly string[];
  readonly allow_credentials: boolean;
  /** Unset: no Access-Control-Max-Age (browsers then cache a preflight for 5 s). */
  readonly max_age_s?: number | undefined;
}

export interface SiteConfig extends LimitsConfig {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly routes: readonly RouteConfig[];
  /** Plain-HTTP requests for this site get 308 to https://. */
  readonly https_redirect: boolean;
  /** Status (`404`) or class (`5xx`) -> page file (src/error-pages/). */
  readonly error_pages?: Readonly<Record<string, string>> | undefined;
}

/** `access.basic_auth`: users of an htpasswd file (bcrypt entries only). */
export interface BasicAuthConfig {
  readonly realm: string;
  readonly htpasswd_file: string;
}

/** `access.forward_auth`: a subrequest decides (nginx auth_request, Traefik ForwardAuth). */
export interface ForwardAuthConfig {
  readonly url: string;
  readonly timeout_ms: number;
  readonly request_headers: readonly string[];
  readonly response_headers: readonly string[];
}

export interface AccessConfig {
  /** Checked first: a client address inside one of these gets 403. */
  readonly deny?: readonly string[] | undefined;
  /** When present, a client address outside all of these gets 403. */
  readonly allow?: readonly string[] | undefined;
  readonly basic_auth?: BasicAuthConfig | undefined;
  readonly forward_auth?: ForwardAuthConfig | undefined;
}

export interface RateLimitConfig {
  readonly requests_per_second: number;
  /** Requests allowed at once above the rate; default: one second's worth (at least 1). */
  readonly burst?: number | undefined;
  readonly by: 'client_ip' | 'site';
}

/** Access control and limits, on a site or a route (a route's key replaces its site's). */
export interface LimitsConfig {
  readonly access?: AccessConfig | undefined;
  readonly rate_limit?: RateLimitConfig | undefined;
  readonly max_body_bytes?: number | undefined;
}

/** `auto`: the CPUs this container may use (workers/worker-count.ts); or a number, 1-64. */
export type WorkersSetting = 'auto' | number;

export interface ProxyConfig {
  readonly workers: WorkersSetting;
  readonly listeners: readonly ListenerConfig[];
  readonly admin: AdminConfig;
  readonly health: HealthConfig;
  readonly trusted_proxies: readonly string[];
  readonly client: ClientConfig;
  readonly upstream_pool: UpstreamPoolConfig;
  readonly shutdown: ShutdownConfig;
  readonly log: LogConfig;
  readonly tls: TlsConfig;
  readonly sites: readonly SiteConfig[];
}

/** Top-level keys applied only at start; a reload reports their changes instead (seed W6). */
export const STATIC_KEYS = [
  'workers',
  'listeners',
  'admin',
  'health',
  'trusted_proxies',
  'client',
  'upstream_pool',
  'shutdown',
  'log',
] as const;

import { statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { defaultServerUids } from '../admin/admin-client.ts';
import { TOKEN_ENV } from '../admin/admin-protocol.ts';
import { parseListenAddress } from '../config/address.ts';
import type { ListenAddress } from '../config/address.ts';
import { isProxyError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { integer, SidecarUsageError } from './flag-values.ts';
import { GUARD_OPTIONS, parseGuardFlags } from './sidecar-guard-flags.ts';
import type { GuardFlags } from './sidecar-guard-flags.ts';
import type { SidecarMode, SidecarOptions } from '../sidecar/sidecar.ts';

/** Defaults; the flags (commands/usage.ts) override them. */
const DEFAULTS = {
  key: 'proxy.yaml',
  healthAddress: '127.0.0.1:9901',
  debounceMs: 500,
  endpointsDebounceMs: 100,
  stallTimeoutMs: 120_000,
  resyncMs: 60_000,
  reloadAttempts: 12,
  adminTimeoutMs: 10_000,
  logLevel: 'info',
} as const;

/**
 * `reverse-proxy sidecar`: runs until SIGTERM or SIGINT, then stops its watch and exits 0.
 * Exit 2 on a wrong command line, 1 when it cannot start (no credentials, health port taken).
 */
export async function runSidecar(args: string[]): Promise<number> {
  let flags: ParsedFlags;
  try {
    flags = parseSidecarArgs(args);
  } catch (err) {
    if (!(err instanceof SidecarUsageError)) throw err;
    process.stderr.write(
      `reverse-proxy: sidecar: ${err.message}\nRun "reverse-proxy sidecar --help" for usage.\n`,
    );
    return 2;
  }
  const log = createLogger(flags.logLevel, { component: 'sidecar' });
  // Listening for signals before starting: a SIGTERM during start-up still ends in exit 0.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  let sidecar;
  try {
    // Loaded here, not at the top: @kubernetes/client-node takes over a second to import, and
    // every other command (serve, validate, ctl) would pay for it at each start.
    const { startSidecar } = await import('../sidecar/sidecar.ts');
    sidecar = await startSidecar(await buildOptions(flags), log);
  } catch (err) {
    if (!isProxyError(err)) throw err;
    log.fatal({ code: err.code, err: err.message }, 'sidecar cannot start');
    process.stderr.write(`reverse-proxy: sidecar cannot start (${err.code})\n${err.message}\n`);
    return 1;
  }
  const signal = await signalled;
  log.info({ signal }, 'stopping the sidecar');
  await sidecar.stop();
  log.info('sidecar stopped');
  return 0;
}

interface ParsedFlags {
  readonly socket: string;
  readonly configOut: string;
  readonly configmap?: string | undefined;
  readonly namespace?: string | undefined;
  readonly watchDir?: string | undefined;
  readonly eventsConfigmap?: string | undefined;
  readonly tlsDirs: readonly string[];
  readonly key: string;
  readonly healthAddress: ListenAddress;
  readonly debounceMs: number;
  readonly expectUid?: number | undefined;
  readonly allowWildcardBind: boolean;
  readonly stallTimeoutMs: number;
  readonly resyncMs: number;
  readonly reloadAttempts: number;
  readonly adminTimeoutMs: number;
  readonly logLevel: string;
  readonly guard: GuardFlags | undefined;
  readonly endpointsFile?: string | undefined;
  readonly endpointsDebounceMs: number;
}

async function buildOptions(flags: ParsedFlags): Promise<SidecarOptions> {
  // API access: always in API mode; in volume mode only to post Events (--events-configmap).
  const eventsName = flags.configmap ?? flags.eventsConfigmap;
  let kubeConfig: KubeConfig | undefined;
  let namespace: string | undefined;
  if (eventsName !== undefined) {
    const { loadKubeConfig, resolveNamespace } = await import('../sidecar/kube-config.ts');
    kubeConfig = loadKubeConfig();
    namespace = resolveNamespace(flags.namespace, kubeConfig);
  }
  const mode: SidecarMode =
    flags.configmap !== undefined && namespace !== undefined
      ? { kind: 'configmap', namespace, name: flags.configmap }
      : { kind: 'volume', dir: flags.watchDir ?? '' };
  return {
    mode,
    key: flags.key,
    configOut: flags.configOut,
    admin: {
      socketPath: flags.socket,
      expectedUids: flags.expectUid === undefined ? defaultServerUids() : [flags.expectUid],
      token: process.env[TOKEN_ENV],
      timeoutMs: flags.adminTimeoutMs,
    },
    validateOptions: {
      allowWildcardBind: flags.allowWildcardBind,
      endpointSource: flags.endpointsFile !== undefined,
    },
    healthAddress: flags.healthAddress,
    debounceMs: flags.debounceMs,
    stallTimeoutMs: flags.stallTimeoutMs,
    resyncMs: flags.resyncMs,
    reloadAttempts: flags.reloadAttempts,
    kubeConfig,
    eventsObject:
      eventsName === undefined || namespace === undefined
        ? undefined
        : { namespace, name: eventsName },
    tlsDirs: flags.tlsDirs,
    guard: flags.guard,
    endpoints:
      flags.endpointsFile === undefined
        ? undefined
        : { path: flags.endpointsFile, debounceMs: flags.endpointsDebounceMs },
  };
}

function parseSidecarArgs(args: string[]): ParsedFlags {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        socket: { type: 'string' },
        'config-out': { type: 'string' },
        configmap: { type: 'string' },
        namespace: { type: 'string' },
        'watch-dir': { type: 'string' },
        'events-configmap': { type: 'string' },
        'tls-dir': { type: 'string', multiple: true },
        key: { type: 'string' },
        'health-address': { type: 'string' },
        'debounce-ms': { type: 'string' },
        'expect-uid': { type: 'string' },
        'allow-wildcard-bind': { type: 'boolean', default: false },
        'stall-timeout-ms': { type: 'string' },
        'resync-ms': { type: 'string' },
        'reload-attempts': { type: 'string' },
        'admin-timeout-ms': { type: 'string' },
        'log-level': { type: 'string' },
        'endpoints-file': { type: 'string' },
        'endpoints-debounce-ms': { type: 'string' },
        ...GUARD_OPTIONS,
      },
    });
  } catch (err) {
    throw new SidecarUsageError((err as Error).message);
  }
  const v = parsed.values;
  const socket = required('--socket PATH', v.socket);
  const configOut = required('--config-out FILE', v['config-out']);
  for (const [flag, value] of [
    ['--configmap', v.configmap],
    ['--namespace', v.namespace],
    ['--watch-dir', v['watch-dir']],
    ['--events-configmap', v['events-configmap']],
    ['--key', v.key],
    ['--endpoints-file', v['endpoints-file']],
  ] as const) {
    if (value === '') throw new SidecarUsageError(`${flag} needs a value`);
  }
  const tlsDirs = checkTlsDirs(v['tls-dir'] ?? []);
  if ((v.configmap === undefined) === (v['watch-dir'] === undefined)) {
    throw new SidecarUsageError(
      'give exactly one of --configmap NAME (API) or --watch-dir DIR (volume)',
    );
  }
  if (v['events-configmap'] !== undefined && v.configmap !== undefined) {
    throw new SidecarUsageError(
      '--events-configmap is for volume mode; API mode posts Events on --configmap',
    );
  }
  if (
    v.namespace !== undefined &&
    v.configmap === undefined &&
    v['events-configmap'] === undefined
  ) {
    throw new SidecarUsageError('--namespace needs --configmap or --events-configmap');
  }
  // EndpointSlices come from the API; volume mode has no access to it (a person or a tool can
  // still write the file for `serve --endpoints-file`).
  if (v['endpoints-file'] !== undefined && v.configmap === undefined) {
    throw new SidecarUsageError('--endpoints-file needs API mode (--configmap NAME)');
  }
  if (v['endpoints-debounce-ms'] !== undefined && v['endpoints-file'] === undefined) {
    throw new SidecarUsageError('--endpoints-debounce-ms needs --endpoints-file');
  }
  if (v.key !== undefined && (v.key.includes('/') || v.key.startsWith('.'))) {
    throw new SidecarUsageError('--key must be a ConfigMap key (no "/", not starting with ".")');
  }
  const health = parseListenAddress(v['health-address'] ?? DEFAULTS.healthAddress);
  if ('error' in health) throw new SidecarUsageError(`--health-address: ${health.error}`);
  // LOG_LEVEL: what the chart sets for both containers; the flag wins.
  const logLevel = v['log-level'] ?? (process.env.LOG_LEVEL || DEFAULTS.logLevel);
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(logLevel)) {
    throw new SidecarUsageError(
      '--log-level (or LOG_LEVEL) must be one of fatal, error, warn, info, debug, trace',
    );
  }
  return {
    socket,
    configOut,
    configmap: v.configmap,
    namespace: v.namespace,
    watchDir: v['watch-dir'],
    eventsConfigmap: v['events-configmap'],
    tlsDirs,
    key: v.key ?? DEFAULTS.key,
    healthAddress: health,
    debounceMs: integer('--debounce-ms', v['debounce-ms'], 0, 60_000) ?? DEFAULTS.debounceMs,
    expectUid: integer('--expect-uid', v['expect-uid'], 0, 0xfffffffe),
    allowWildcardBind: v['allow-wildcard-bind'] === true,
    stallTimeoutMs:
      integer('--stall-timeout-ms', v['stall-timeout-ms'], 100, 3_600_000) ??
      DEFAULTS.stallTimeoutMs,
    resyncMs: integer('--resync-ms', v['resync-ms'], 50, 3_600_000) ?? DEFAULTS.resyncMs,
    reloadAttempts:
      integer('--reload-attempts', v['reload-attempts'], 1, 1_000) ?? DEFAULTS.reloadAttempts,
    adminTimeoutMs:
      integer('--admin-timeout-ms', v['admin-timeout-ms'], 100, 600_000) ?? DEFAULTS.adminTimeoutMs,
    logLevel,
    guard: parseGuardFlags(v, v.configmap !== undefined),
    endpointsFile: v['endpoints-file'] === undefined ? undefined : resolvePath(v['endpoints-file']),
    endpointsDebounceMs:
      integer('--endpoints-debounce-ms', v['endpoints-debounce-ms'], 0, 10_000) ??
      DEFAULTS.endpointsDebounceMs,
  };
}

/**
 * Each --tls-dir must name an existing directory, once. The kubelet mounts a pod's Secret
 * volumes before any of its containers start, so a missing one is a wrong path (a typo would
 * otherwise only ever log "cannot watch", and no renewal would be reloaded).
 */
function checkTlsDirs(dirs: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const dir of dirs) {
    if (dir === '') throw new SidecarUsageError('--tls-dir needs a value');
    let stats;
    try {
      stats = statSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SidecarUsageError(
        code === 'ENOENT' || code === 'ENOTDIR'
          ? `--tls-dir ${dir}: no such directory`
          : `--tls-dir ${dir}: cannot stat it (${code ?? String(err)})`,
      );
    }
    if (!stats.isDirectory()) {
      throw new SidecarUsageError(`--tls-dir ${dir}: not a directory (a mounted TLS Secret is)`);
    }
    const key = resolvePath(dir);
    if (seen.has(key)) throw new SidecarUsageError(`--tls-dir ${dir}: given twice`);
    seen.add(key);
  }
  return [...dirs];
}

function required(flag: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new SidecarUsageError(`${flag} is required`);
  return value;
}

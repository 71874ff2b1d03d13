/**
 * What `--help` prints: the overview (`reverse-proxy --help`) and each command's own
 * (`reverse-proxy <command> --help`), both from one description per command so they never
 * disagree.
 */
interface CommandHelp {
  /** The command line, over several lines when it is long. */
  readonly synopsis: readonly string[];
  /** What it does and its exit codes, in lines that fit the overview's right column. */
  readonly summary: readonly string[];
}

const COMMANDS = {
  serve: {
    synopsis: [
      'serve -c FILE [--allow-wildcard-bind] [--admin-socket PATH] [--health-address HOST:PORT]',
      '[--workers auto|N] [--endpoints-file PATH]',
    ],
    summary: [
      'run the proxy; --admin-socket, --health-address',
      'and --workers replace admin.socket, health.address',
      'and workers of the file for this process;',
      '--endpoints-file: where service upstreams get',
      'their endpoints (read at start if present, again',
      'on `ctl endpoints`); exit 0 once drained, 1 when',
      'it cannot start (2: the config is unreadable)',
    ],
  },
  validate: {
    synopsis: ['validate -c FILE [--allow-wildcard-bind] [--strict] [--endpoints-file PATH]'],
    summary: [
      'check a config as serve and every reload would',
      '(--endpoints-file: service upstreams have a source);',
      'print every error with its path and line, and',
      'warnings; exit 0 valid, 1 invalid (or warnings,',
      'with --strict), 2 unreadable',
    ],
  },
  ctl: {
    synopsis: [
      'ctl [-s SOCKET] [-c FILE] [--expect-uid UID] [--timeout MS] reload|status|endpoints',
    ],
    summary: [
      'talk to a running proxy over its admin socket',
      '(endpoints: re-read --endpoints-file, no reload)',
      '(default socket: admin.socket of -c FILE, else',
      '$REVERSE_PROXY_ADMIN_SOCKET, else',
      '/run/reverse-proxy/admin.sock; token from',
      'ADMIN_SOCKET_TOKEN); prints the JSON reply; exit 0',
      'ok, 1 error reply, 2 wrong usage, 3 unreachable,',
      '4 untrusted owner (nothing was sent)',
    ],
  },
  diff: {
    synopsis: ['diff [--allow-wildcard-bind] OLD NEW'],
    summary: [
      'what changes from config OLD to NEW, site by site',
      'and route by route; exit 0 no change, 1 changes,',
      '2 a file is unreadable or invalid',
    ],
  },
  sidecar: {
    synopsis: [
      'sidecar --socket PATH --config-out FILE (--configmap NAME [--namespace NS] | --watch-dir DIR)',
      '[--key proxy.yaml] [--health-address HOST:PORT] [--debounce-ms 500] [--expect-uid UID]',
      '[--allow-wildcard-bind] [--stall-timeout-ms 120000] [--resync-ms 60000]',
      '[--reload-attempts 12] [--admin-timeout-ms 10000] [--events-configmap NAME]',
      '[--tls-dir DIR ...] [--log-level info]',
      '[--guard on|off] [--bake-ms 120000] [--baseline-ms 300000] [--sample-ms 5000]',
      '[--min-requests 50] [--error-ratio-increase 0.05] [--error-ratio-factor 2]',
      '[--p99-increase-ms 250] [--p99-factor 2] [--proxy-metrics URL]',
      '[--rollout-lease NAME --last-good-configmap NAME] [--lease-duration-s 15]',
      '[--rollout-poll-ms 1000]',
      '[--endpoints-file PATH] [--endpoints-debounce-ms 100]',
    ],
    summary: [
      'the Kubernetes admin sidecar: watch a ConfigMap',
      '(API) or a mounted volume, validate, write',
      '--config-out atomically, reload over --socket;',
      'a change in a --tls-dir (a mounted TLS Secret)',
      're-validates the config and reloads; a new',
      'config bakes, and rolls back on a regression',
      '(docs/operations.md, "Guarded rollout"); with',
      '--endpoints-file (API mode), the EndpointSlices',
      'of `service:` upstreams go to that file and the',
      '`endpoints` command (no reload); runs',
      'until SIGTERM (exit 0); exit 1 when it cannot',
      'start, 2 on a wrong command line',
    ],
  },
} as const satisfies Record<string, CommandHelp>;

export type CommandName = keyof typeof COMMANDS;

/** The column where the overview's descriptions start. */
const SUMMARY_COLUMN = 45;

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** `reverse-proxy --help`: every command, its synopsis left, what it does right. */
export function overviewUsage(): string {
  const blocks = Object.entries(COMMANDS).map(([name, help]) => overviewBlock(name, help));
  return `Usage: reverse-proxy <command> [options]

Commands:
${blocks.join('')}
Run "reverse-proxy <command> --help" for one command.

Options:
  -h, --help      show this help
  -v, --version   print the version
`;
}

/** `reverse-proxy <command> --help` (or `-h`). */
export function commandUsage(name: CommandName): string {
  const { synopsis, summary } = COMMANDS[name];
  const lines = synopsis.map((line, i) =>
    i === 0 ? `Usage: reverse-proxy ${line}` : continued(name, line),
  );
  return `${lines.join('\n')}

${summary.map((line) => `  ${line}`).join('\n')}

Options:
  -h, --help      show this help
`;
}

/** A synopsis line after the first: indented past the command's name. */
function continued(name: string, line: string): string {
  return ' '.repeat(3 + name.length) + line;
}

function overviewBlock(name: string, { synopsis, summary }: CommandHelp): string {
  const lines = synopsis.map((line, i) => (i === 0 ? `  ${line}` : continued(name, line)));
  const out = [...lines];
  let rest = [...summary];
  const last = out[out.length - 1] as string;
  // The summary starts beside the synopsis when there is room, else below it.
  if (last.length <= SUMMARY_COLUMN - 2) {
    out[out.length - 1] = last.padEnd(SUMMARY_COLUMN) + (rest[0] ?? '');
    rest = rest.slice(1);
  }
  out.push(...rest.map((line) => ' '.repeat(SUMMARY_COLUMN) + line));
  return out.map((line) => `${line}\n`).join('');
}

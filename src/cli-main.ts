import { parseArgs } from 'node:util';
import { runValidate } from './commands/validate.ts';
import { instanceOverrideProblem } from './config/instance-overrides.ts';
import type { ServeFlags } from './serve.ts';
import { CtlUsageError, runCtl } from './commands/ctl.ts';
import { DiffUsageError, runDiff } from './commands/diff.ts';
import { runSidecar } from './commands/sidecar.ts';
import { commandUsage, isCommandName, overviewUsage } from './commands/usage.ts';
import { ProxyError } from './errors.ts';
import { packageVersion } from './version.ts';

/** Thin entry point: argv -> one command. Each command owns its exit code. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    // `help <command>` is that command's help, as with git.
    const about = rest[0];
    if (command === 'help' && about !== undefined) {
      if (!isCommandName(about)) throw new UsageError(`unknown command "${about}"`);
      process.stdout.write(commandUsage(about));
      return 0;
    }
    process.stdout.write(overviewUsage());
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version' || command === 'version') {
    process.stdout.write(`reverse-proxy ${packageVersion()}\n`);
    return 0;
  }
  const commands: Record<string, (args: string[]) => Promise<number>> = {
    // Loaded on demand: the proxy's dependencies (express, the proxy engine, metrics) would
    // otherwise slow every `ctl` call, which is what probes and `kubectl exec` run.
    serve: async (args) => {
      const flags = parseServeFlags(args);
      const { runServe } = await import('./commands/serve.ts');
      return runServe(flags);
    },
    validate: (args) => {
      const strict = args.includes('--strict');
      const rest = args.filter((a) => a !== '--strict');
      return runValidate({ ...parseConfigFlags('validate', rest), strict });
    },
    ctl: runCtl,
    diff: runDiff,
    sidecar: runSidecar,
  };
  const run = commands[command];
  if (run === undefined || !isCommandName(command)) {
    throw new UsageError(`unknown command "${command}"`);
  }
  // Before any parsing: `-h` anywhere asks for help, even beside a flag that is wrong.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandUsage(command));
    return 0;
  }
  return run(rest);
}

/** A wrong command line: exit 2 with the message and a pointer to --help. */
export class UsageError extends ProxyError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

function parseConfigFlags(command: string, args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        'allow-wildcard-bind': { type: 'boolean', default: false },
        'endpoints-file': { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`);
  }
  const configPath = parsed.values.config;
  if (configPath === undefined || configPath === '') {
    throw new UsageError(`${command}: -c FILE is required`);
  }
  const endpointsFile = parsed.values['endpoints-file'];
  if (endpointsFile === '') throw new UsageError(`${command}: --endpoints-file needs a path`);
  return {
    configPath,
    allowWildcardBind: parsed.values['allow-wildcard-bind'] === true,
    endpointsFile,
  };
}

/**
 * `serve`'s flags: the config flags, plus per-process replacements for the two static keys
 * that name host resources (several proxies from one config file on one host: a blue/green
 * pair on a VM, or tests that run three pods' worth of proxies side by side).
 */
function parseServeFlags(args: string[]): ServeFlags {
  const rest: string[] = [];
  const overrides: { adminSocket?: string; healthAddress?: string; workers?: 'auto' | number } = {};
  const names = ['--admin-socket', '--health-address', '--workers'];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (!names.includes(name as string)) {
      rest.push(arg);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`serve: ${name} needs a value`);
    if (name === '--admin-socket') overrides.adminSocket = value;
    else if (name === '--health-address') overrides.healthAddress = value;
    else
      overrides.workers =
        value === 'auto' ? 'auto' : /^\d+$/.test(value) ? Number(value) : (value as 'auto');
  }
  const problem = instanceOverrideProblem(overrides);
  if (problem !== undefined) throw new UsageError(`serve: ${problem}`);
  return { ...parseConfigFlags('serve', rest), overrides };
}

/**
 * Runs one command line and exits with its code. Explicit exit: a drained proxy may still hold
 * handles (timers, idle agents) that must not keep it alive. stdout/stderr are synchronous for
 * files and pipes on Linux, so nothing is lost.
 */
export function runCli(argv: string[]): void {
  main(argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (
        err instanceof UsageError ||
        err instanceof CtlUsageError ||
        err instanceof DiffUsageError
      ) {
        const command = argv[0] ?? '';
        const help = isCommandName(command)
          ? `reverse-proxy ${command} --help`
          : 'reverse-proxy --help';
        process.stderr.write(`reverse-proxy: ${err.message}\nRun "${help}" for usage.\n`);
        process.exit(2);
      }
      process.stderr.write(
        `reverse-proxy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}

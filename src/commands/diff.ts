import { parseArgs } from 'node:util';
import { checkConfigBytes } from '../config/check.ts';
import { diffConfigs, isEmptyDiff } from '../config/config-diff.ts';
import { formatDiff } from '../config/config-diff-text.ts';
import { loadConfigBytes } from '../config/load.ts';
import type { ProxyConfig } from '../config/types.ts';
import { isProxyError, ProxyError } from '../errors.ts';
import { describeConfigError } from './validate.ts';

/** A wrong `diff` command line: exit 2 (ERR_USAGE), like every other usage error. */
export class DiffUsageError extends ProxyError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

export interface DiffFlags {
  readonly oldPath: string;
  readonly newPath: string;
  readonly allowWildcardBind: boolean;
}

export function parseDiffFlags(args: string[]): DiffFlags {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { 'allow-wildcard-bind': { type: 'boolean', default: false } },
    });
  } catch (err) {
    throw new DiffUsageError(`diff: ${(err as Error).message}`);
  }
  const [oldPath, newPath, ...extra] = parsed.positionals;
  if (oldPath === undefined || newPath === undefined || extra.length > 0) {
    throw new DiffUsageError('diff: expected two files, OLD and NEW');
  }
  if (oldPath === '' || newPath === '') throw new DiffUsageError('diff: a file name is empty');
  return { oldPath, newPath, allowWildcardBind: parsed.values['allow-wildcard-bind'] === true };
}

/**
 * `reverse-proxy diff OLD NEW`: both files go through the validator `validate` and every
 * reload use, then the validated configs are compared (config-diff.ts), so formatting and
 * keys written at their default are no change. Exit 0 no change, 1 changes (like diff(1)),
 * 2 when either file cannot be read or is invalid (its errors printed as `validate` does).
 */
export async function runDiff(args: string[]): Promise<number> {
  const flags = parseDiffFlags(args);
  // A diff compares configs, it serves nothing: service upstreams need no endpoint source here.
  const options = { allowWildcardBind: flags.allowWildcardBind, endpointSource: true };
  const load = async (path: string): Promise<ProxyConfig | undefined> => {
    try {
      const file = await loadConfigBytes(path);
      return checkConfigBytes(file.bytes, path, options);
    } catch (err) {
      if (!isProxyError(err)) throw err;
      process.stderr.write(describeConfigError(path, err));
      return undefined;
    }
  };
  // Both files are checked, so one run reports the errors of both.
  const before = await load(flags.oldPath);
  const after = await load(flags.newPath);
  if (before === undefined || after === undefined) return 2;
  const diff = diffConfigs(before, after);
  if (isEmptyDiff(diff)) {
    process.stdout.write('no change\n');
    return 0;
  }
  process.stdout.write(
    formatDiff(diff)
      .map((line) => `${line}\n`)
      .join(''),
  );
  return 1;
}

import { checkConfig } from '../config/check.ts';
import { loadConfigBytes } from '../config/load.ts';
import { ConfigInvalidError, formatIssue, isProxyError } from '../errors.ts';
import type { ProxyError } from '../errors.ts';

export interface ConfigFlags {
  readonly configPath: string;
  readonly allowWildcardBind: boolean;
  /** `--strict`: warnings (a certificate served although expired, one set aside) fail too. */
  readonly strict?: boolean;
  /** `--endpoints-file`: service upstreams have an endpoint source (the file is not read). */
  readonly endpointsFile?: string | undefined;
}

/**
 * `reverse-proxy validate`: like `nginx -t`. Exit 0 valid, 1 invalid (or, with --strict,
 * valid with warnings), 2 unreadable. Warnings are what `serve` and a reload would accept and
 * log: they go to stderr, one per line.
 */
export async function runValidate(flags: ConfigFlags): Promise<number> {
  try {
    const file = await loadConfigBytes(flags.configPath);
    const { config, certificates } = checkConfig(file.bytes, flags.configPath, {
      allowWildcardBind: flags.allowWildcardBind,
      endpointSource: flags.endpointsFile !== undefined,
    });
    const warnings = certificates.warnings;
    for (const issue of warnings) {
      process.stderr.write(`${flags.configPath}: warning: ${formatIssue(issue)}\n`);
    }
    const noted = warnings.length === 0 ? '' : `, ${warnings.length} warning(s)`;
    process.stdout.write(
      `${flags.configPath}: ok (${config.sites.length} site(s), sha256 ${file.sha256}${noted})\n`,
    );
    return flags.strict === true && warnings.length > 0 ? 1 : 0;
  } catch (err) {
    if (!isProxyError(err)) throw err;
    process.stderr.write(describeConfigError(flags.configPath, err));
    return exitCodeFor(err);
  }
}

/** Every error on its own line, prefixed by the file: what `validate` and `serve` print. */
export function describeConfigError(path: string, err: ProxyError): string {
  if (err instanceof ConfigInvalidError) {
    const lines = err.issues.map((issue) => `${path}: ${formatIssue(issue)}\n`);
    return `${lines.join('')}${path}: invalid (${err.issues.length} error(s))\n`;
  }
  return `${err.message}\n`;
}

/** 1 when the file was read and is wrong, 2 when it could not be read at all. */
export function exitCodeFor(err: ProxyError): number {
  return err.code === 'ERR_CONFIG_INVALID' || err.code === 'ERR_CONFIG_PARSE' ? 1 : 2;
}

import type { ProxyConfig } from './types.ts';
import { parseConfigYaml } from './parse.ts';
import { validateConfig } from './validate.ts';
import type { ValidateOptions } from './validate.ts';

/**
 * Bytes to a validated config: the one code path that `validate`, `serve`, every reload and the
 * sidecar share, so none of them can accept what another would refuse.
 */
export function checkConfigBytes(
  bytes: Buffer,
  sourceName: string,
  options: ValidateOptions,
): ProxyConfig {
  return validateConfig(parseConfigYaml(bytes, sourceName), options);
}

import { loadCertificates } from '../tls/certificates.ts';
import type { CertificateSet } from '../tls/certificates.ts';
import type { ProxyConfig } from './types.ts';
import { parseConfigYaml } from './parse.ts';
import { validateConfig } from './validate.ts';
import type { ValidateOptions } from './validate.ts';

/**
 * Bytes to a validated config: the one code path that `validate`, `serve`, every reload and the
 * sidecar share, so none of them can accept what another would refuse. It reads and checks
 * the certificate files too (tls/certificates.ts), so a bad pair fails all four the same way.
 */
export function checkConfigBytes(
  bytes: Buffer,
  sourceName: string,
  options: ValidateOptions,
): ProxyConfig {
  return checkConfig(bytes, sourceName, options).config;
}

/** The same check, keeping the loaded certificates; `previous` lends unchanged pairs. */
export function checkConfig(
  bytes: Buffer,
  sourceName: string,
  options: ValidateOptions,
  previous?: CertificateSet,
): { config: ProxyConfig; certificates: CertificateSet } {
  const config = validateConfig(parseConfigYaml(bytes, sourceName), options);
  return { config, certificates: loadCertificates(config.tls, previous) };
}

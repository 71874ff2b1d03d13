import { loadHtpasswdFiles } from '../access/htpasswd-files.ts';
import type { HtpasswdSet } from '../access/htpasswd-files.ts';
import { loadPageFiles } from '../error-pages/page-files.ts';
import type { PageFileSet } from '../error-pages/page-files.ts';
import { loadCertificates } from '../tls/certificates.ts';
import type { CertificateSet } from '../tls/certificates.ts';
import type { ProxyConfig } from './types.ts';
import { parseConfigYaml } from './parse.ts';
import { validateConfig } from './validate.ts';
import type { ValidateOptions } from './validate.ts';

/**
 * Bytes to a validated config: the one code path that `validate`, `serve`, every reload and the
 * sidecar share, so none of them can accept what another would refuse. It reads and checks
 * the certificate files too (tls/certificates.ts), so a bad pair fails all four the same way,
 * the htpasswd files of `access.basic_auth` (access/htpasswd-files.ts) and the sites'
 * `error_pages` (error-pages/page-files.ts).
 */
export function checkConfigBytes(
  bytes: Buffer,
  sourceName: string,
  options: ValidateOptions,
): ProxyConfig {
  return checkConfig(bytes, sourceName, options).config;
}

/**
 * The same check, keeping the loaded certificates, htpasswd and page files; `previous` lends
 * unchanged pairs, `previousHtpasswd` and `previousPages` unchanged files (and what a broken
 * one keeps).
 */
export function checkConfig(
  bytes: Buffer,
  sourceName: string,
  options: ValidateOptions,
  previous?: CertificateSet,
  previousHtpasswd?: HtpasswdSet,
  previousPages?: PageFileSet,
): {
  config: ProxyConfig;
  certificates: CertificateSet;
  htpasswd: HtpasswdSet;
  pages: PageFileSet;
} {
  const config = validateConfig(parseConfigYaml(bytes, sourceName), options);
  const certificates = loadCertificates(config.tls, previous);
  const htpasswd = loadHtpasswdFiles(config, previousHtpasswd);
  return { config, certificates, htpasswd, pages: loadPageFiles(config, previousPages) };
}

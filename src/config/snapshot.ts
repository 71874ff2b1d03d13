import { EMPTY_HTPASSWD } from '../access/htpasswd-files.ts';
import type { HtpasswdSet } from '../access/htpasswd-files.ts';
import { EMPTY_PAGE_FILES } from '../error-pages/page-files.ts';
import type { PageFileSet } from '../error-pages/page-files.ts';
import { compileSitePages } from '../error-pages/site-pages.ts';
import type { SitePageTable } from '../error-pages/site-pages.ts';
import { buildRouteTable } from '../routing/route-table.ts';
import type { RouteTable } from '../routing/route-table.ts';
import { EMPTY_CERTIFICATES } from '../tls/certificates.ts';
import type { CertificateSet } from '../tls/certificates.ts';
import { deepFreeze } from './deep-freeze.ts';
import type { ProxyConfig } from './types.ts';

/** Everything a request needs, compiled once per config and never mutated. */
export interface Snapshot {
  readonly generation: number;
  readonly sha256: string;
  readonly loadedAt: Date;
  readonly config: ProxyConfig;
  readonly table: RouteTable;
  /** The certificates TLS listeners serve (SNI picks among them). */
  readonly certificates: CertificateSet;
  /** The users of `access.basic_auth`, by htpasswd file: read at load, and on every reload. */
  readonly htpasswd: HtpasswdSet;
  /** The files of the sites' `error_pages`: read at load, and on every reload. */
  readonly pageFiles: PageFileSet;
  /** Those pages by site and status, as the error answers look them up. */
  readonly sitePages: SitePageTable;
}

export function compileSnapshot(
  config: ProxyConfig,
  sha256: string,
  generation: number,
  certificates: CertificateSet = EMPTY_CERTIFICATES,
  htpasswd: HtpasswdSet = EMPTY_HTPASSWD,
  pageFiles: PageFileSet = EMPTY_PAGE_FILES,
): Snapshot {
  return Object.freeze({
    generation,
    sha256,
    loadedAt: new Date(),
    config: deepFreeze(config),
    table: buildRouteTable(config.sites),
    certificates,
    htpasswd,
    pageFiles,
    sitePages: compileSitePages(config.sites, pageFiles),
  });
}

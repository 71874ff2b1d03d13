import type { SiteConfig } from '../config/types.ts';
import { PAGE_STATUSES } from './error-page-schema.ts';
import type { PageFileSet } from './page-files.ts';

/** What the proxy answers instead of its JSON error body. */
export interface ErrorPage {
  readonly contentType: string;
  readonly body: Buffer;
}

/** One site's pages by status, classes already spread over their statuses. */
export type SitePages = ReadonlyMap<number, ErrorPage>;

/** Every site's pages, by site name; a site without `error_pages` is absent. */
export type SitePageTable = ReadonlyMap<string, SitePages>;

export const NO_SITE_PAGES: SitePageTable = new Map();

/**
 * Compiled once per snapshot (every process compiles its own from the files the primary read):
 * a status named itself wins over its class (`404` over `4xx`), as in Caddy's handle_errors.
 */
export function compileSitePages(sites: readonly SiteConfig[], files: PageFileSet): SitePageTable {
  const table = new Map<string, SitePages>();
  for (const site of sites) {
    const config = site.error_pages;
    if (config === undefined) continue;
    const pages = new Map<number, ErrorPage>();
    for (const status of PAGE_STATUSES) {
      const path = config[String(status)] ?? config[`${String(status)[0]}xx`];
      const file = path === undefined ? undefined : files.files.get(path);
      if (file !== undefined) {
        pages.set(status, Object.freeze({ contentType: file.contentType, body: file.body }));
      }
    }
    table.set(site.name, pages);
  }
  return table;
}

/** The page a site's answer of `status` uses (undefined: the proxy's JSON). */
export function errorPage(
  table: SitePageTable,
  site: string | undefined,
  status: number,
): ErrorPage | undefined {
  if (site === undefined || table.size === 0) return undefined;
  return table.get(site)?.get(status);
}

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigInvalidError, formatIssue } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import type { ProxyConfig } from '../config/types.ts';
import { pageType } from './error-page-schema.ts';

/** One page file as a snapshot holds it: plain data, so it crosses to workers as it is. */
export interface PageFile {
  readonly path: string;
  /** sha256 of its bytes: unchanged bytes keep this object across reloads. */
  readonly sha256: string;
  readonly contentType: string;
  readonly body: Buffer;
}

/** The page files of one config, by path, and what a reload had to keep from before. */
export interface PageFileSet {
  readonly files: ReadonlyMap<string, PageFile>;
  /** Files that broke on a reload and keep their previous bytes (docs/config.md). */
  readonly warnings: readonly ConfigIssue[];
}

export const EMPTY_PAGE_FILES: PageFileSet = Object.freeze({
  files: new Map<string, PageFile>(),
  warnings: Object.freeze([]),
});

/** 64 KiB: an error page is one screen of markup; every worker holds every page in memory. */
export const MAX_PAGE_BYTES = 64 * 1024;

/**
 * Reads and checks every file of the sites' `error_pages`: the one code path of `validate`,
 * `serve`, every reload and the sidecar, as for htpasswd files, and with their policy
 * (docs/config.md, "error_pages"):
 * - any problem (unreadable, empty, too large, not UTF-8 for text, not JSON for .json) fails
 *   the load, naming the site and status of its first use and the file;
 * - except on a reload, for a file that `previous` holds (same path): the page loaded before
 *   stays in force, with a warning. A file new to this reload is judged as at start.
 */
export function loadPageFiles(
  config: ProxyConfig,
  previous: PageFileSet = EMPTY_PAGE_FILES,
): PageFileSet {
  const files = new Map<string, PageFile>();
  const warnings: ConfigIssue[] = [];
  const fatal: ConfigIssue[] = [];
  for (const [path, at] of pageReferences(config)) {
    const before = previous.files.get(path);
    const loaded = loadFile(path, before);
    if (typeof loaded !== 'string') {
      files.set(path, loaded);
    } else if (before !== undefined) {
      files.set(path, before);
      warnings.push({ path: at, message: `${loaded}; the page loaded before stays in force` });
    } else {
      fatal.push({ path: at, message: loaded });
    }
  }
  if (fatal.length > 0) throw new ConfigInvalidError(fatal);
  return Object.freeze({ files, warnings: Object.freeze(warnings) });
}

/** Same files, same bytes, same problems: nothing for a reload to swap. */
export function samePageFiles(a: PageFileSet, b: PageFileSet): boolean {
  if (a.files.size !== b.files.size || a.warnings.length !== b.warnings.length) return false;
  for (const [path, file] of a.files) if (b.files.get(path) !== file) return false;
  return a.warnings.every((w, i) => formatIssue(w) === formatIssue(b.warnings[i] as ConfigIssue));
}

/** Each page file the config names, with the config path of its first use. */
export function pageReferences(config: ProxyConfig): Map<string, string> {
  const refs = new Map<string, string>();
  config.sites.forEach((site, i) => {
    for (const [status, path] of Object.entries(site.error_pages ?? {})) {
      if (!refs.has(path)) refs.set(path, `sites[${i}].error_pages.${status}`);
    }
  });
  return refs;
}

/** The file, or what is wrong with it. */
function loadFile(path: string, before: PageFile | undefined): PageFile | string {
  let bytes: Buffer;
  try {
    const size = statSync(path).size;
    if (size > MAX_PAGE_BYTES)
      return `${path} is ${size} bytes, over the ${MAX_PAGE_BYTES}-byte limit`;
    bytes = readFileSync(path);
  } catch (err) {
    return `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  // Read again after the stat: a file that grew in between is judged by what was read.
  if (bytes.length > MAX_PAGE_BYTES) return `${path} is over the ${MAX_PAGE_BYTES}-byte limit`;
  if (bytes.length === 0) return `${path} is empty`;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (before !== undefined && before.sha256 === sha256) return before;
  const contentType = pageType(path) as string;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return `${path} is not valid UTF-8 (it is served as ${contentType})`;
  }
  if (contentType === 'application/json') {
    try {
      JSON.parse(text);
    } catch {
      return `${path} is not valid JSON (it is served as application/json)`;
    }
  }
  return Object.freeze({ path, sha256, contentType, body: bytes });
}

import Joi from 'joi';
import type { CustomHelpers } from 'joi';
import { absoluteFile } from '../config/value-rules.ts';

/**
 * The statuses a site's `error_pages` may replace: the answers the proxy makes itself once it
 * knows the site. The others it makes before (400, 405, 501, 505: the request is refused before
 * its Host is trusted), or where no site is at hand (408 from the body watch), keep their JSON.
 */
export const PAGE_STATUSES: readonly number[] = Object.freeze([
  401, 403, 404, 413, 429, 502, 503, 504,
]);

/** A status, or a class (`4xx`, `5xx`) that stands for each of its statuses above. */
const PAGE_KEY = /^(?:401|403|404|413|429|502|503|504|4xx|5xx)$/;

/** The extension gives the Content-Type: a page is served as nothing else. */
export const PAGE_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
});

/** The Content-Type of a page file, or undefined for an extension the proxy does not serve. */
export function pageType(path: string): string | undefined {
  const dot = path.lastIndexOf('.');
  if (dot === -1 || dot < path.lastIndexOf('/')) return undefined;
  return PAGE_TYPES[path.slice(dot).toLowerCase()];
}

function pageFile(value: string, helpers: CustomHelpers): string | Joi.ErrorReport {
  if (pageType(value) !== undefined) return value;
  return helpers.message({
    custom: 'must end in .html, .htm, .json or .txt (the extension gives the Content-Type)',
  });
}

/**
 * A key that is no status of PAGE_KEY, reported at the key's own path (`error_pages.200`):
 * joi's own `object.unknown` would say only "is not a known key".
 */
function pageKeys(value: Record<string, string>, helpers: CustomHelpers): unknown {
  const wrong = Object.keys(value).find((key) => !PAGE_KEY.test(key));
  if (wrong === undefined) return value;
  return helpers.error(
    'errorPages.status',
    {},
    {
      ...helpers.state,
      path: [...(helpers.state.path ?? []), wrong],
    },
  );
}

/** `error_pages` on a site: status (or class) -> an absolute path to the page. */
export const errorPagesSchema = Joi.object()
  .pattern(/^/, Joi.string().custom(absoluteFile).custom(pageFile))
  .min(1)
  .custom(pageKeys)
  .messages({
    'errorPages.status': `is not a status the proxy answers itself once the site is known (${PAGE_STATUSES.join(', ')}, 4xx or 5xx)`,
    'object.min': 'must name at least one status',
  });

/**
 * A route's request conditions beyond its path: `methods`, `headers` and `query`, all of which
 * must hold. Compiled once per config; checking one costs a scan of the request's headers or
 * of its query string, and nothing for a route without conditions (no object at all).
 */

/** What matching reads of a request: both the HTTP/1.1 and the HTTP/2 request have these. */
export interface MatchInput {
  readonly method?: string | undefined;
  readonly rawHeaders: readonly string[];
  /** Path and query, as received. */
  readonly url?: string | undefined;
}

export interface ConditionsConfig {
  readonly methods?: readonly string[] | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly query?: Readonly<Record<string, string>> | undefined;
}

export interface RouteConditions {
  /** Conditions in all: the method list counts one, each header and query parameter one. */
  readonly count: number;
  holds(input: MatchInput): boolean;
}

export function compileConditions(config: ConditionsConfig): RouteConditions | undefined {
  const methods = config.methods === undefined ? undefined : new Set(config.methods);
  const headers = Object.entries(config.headers ?? {}).map(
    ([name, value]) => [name.toLowerCase(), value] as const,
  );
  const query = Object.entries(config.query ?? {});
  const count = (methods === undefined ? 0 : 1) + headers.length + query.length;
  if (count === 0) return undefined;
  return Object.freeze({
    count,
    holds(input: MatchInput): boolean {
      if (methods !== undefined && !methods.has(input.method ?? 'GET')) return false;
      if (headers.length > 0 && !headersHold(headers, input.rawHeaders)) return false;
      return query.length === 0 || queryHolds(query, input.url ?? '');
    },
  });
}

/**
 * A header holds when its field lines, joined with ", " as RFC 9110 §5.3 combines them, equal
 * the value exactly: two `X-Canary: 1` lines are "1, 1", not "1", so a repeated header cannot
 * be read one way here and another way upstream.
 */
function headersHold(wanted: readonly (readonly [string, string])[], raw: readonly string[]) {
  for (const [name, value] of wanted) {
    let seen: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i] as string;
      if (field.length !== name.length || field.toLowerCase() !== name) continue;
      const line = (raw[i + 1] as string).trim();
      seen = seen === undefined ? line : `${seen}, ${line}`;
    }
    if (seen !== value) return false;
  }
  return true;
}

/**
 * Query parameters are compared decoded (`+` is a space, percent-escapes decoded), name and
 * value case-sensitive. A repeated parameter is judged by its first value, as Gateway API
 * recommends for HTTPQueryParamMatch.
 */
function queryHolds(wanted: readonly (readonly [string, string])[], url: string): boolean {
  const mark = url.indexOf('?');
  if (mark === -1) return false;
  const first = firstValues(url.slice(mark + 1));
  for (const [name, value] of wanted) {
    if (first.get(name) !== value) return false;
  }
  return true;
}

function firstValues(search: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const pair of search.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    if (!values.has(name)) values.set(name, eq === -1 ? '' : decode(pair.slice(eq + 1)));
  }
  return values;
}

function decode(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    // A malformed escape is compared as written: it can only equal a value written that way.
    return spaced;
  }
}

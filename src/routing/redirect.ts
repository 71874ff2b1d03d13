import type { PathReplacement } from './path-replacement.ts';

export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

export interface RedirectConfig {
  readonly status: RedirectStatus;
  readonly scheme?: 'http' | 'https' | undefined;
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly path?: string | undefined;
}

/** What a redirect keeps of the request when the config does not say otherwise. */
export interface RedirectInput {
  /** The scheme the client used. */
  readonly scheme: 'http' | 'https';
  /** The Host header's value as received (host[:port]). */
  readonly host: string;
  /** Path and query as received (the path already normalised). */
  readonly url: string;
}

/**
 * A route that answers with a redirect instead of an upstream, with the rules of Gateway API's
 * RequestRedirect filter: the scheme, host and path are the request's unless set; the port is
 * the one set, else none when the scheme is set (its default port), else the request's own;
 * the query string is always kept. Undefined: the new path is refused (400).
 */
export interface Redirect {
  readonly status: RedirectStatus;
  location(input: RedirectInput): string | undefined;
}

export function compileRedirect(
  config: RedirectConfig,
  path: PathReplacement | undefined,
): Redirect {
  const { status, scheme, host, port } = config;
  return Object.freeze({
    status,
    location(input: RedirectInput): string | undefined {
      const mark = input.url.indexOf('?');
      const asked = mark === -1 ? input.url : input.url.slice(0, mark);
      const query = mark === -1 ? '' : input.url.slice(mark);
      const newPath = path === undefined ? asked : path.apply(asked);
      if (newPath === undefined) return undefined;
      const [requestHost, requestPort] = splitHostHeader(input.host);
      const toScheme = scheme ?? input.scheme;
      let toPort = port ?? (scheme === undefined ? requestPort : undefined);
      if (toPort === (toScheme === 'https' ? 443 : 80)) toPort = undefined;
      const authority = (host ?? requestHost) + (toPort === undefined ? '' : `:${toPort}`);
      return `${toScheme}://${authority}${newPath}${query}`;
    },
  });
}

/** `example.com:8080` -> ['example.com', 8080]; `[::1]` -> ['[::1]', undefined]. */
export function splitHostHeader(value: string): [string, number | undefined] {
  const close = value.startsWith('[') ? value.indexOf(']') + 1 : 0;
  const colon = value.indexOf(':', close);
  if (colon === -1) return [value, undefined];
  const port = Number(value.slice(colon + 1));
  return [value.slice(0, colon), Number.isInteger(port) && port > 0 ? port : undefined];
}

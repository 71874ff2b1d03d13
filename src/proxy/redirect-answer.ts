import type { Route } from '../routing/route.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import { requestHost } from './request-guard.ts';

/** A redirect the proxy answers itself: its status and where it points. */
export interface RedirectAnswer {
  readonly status: number;
  readonly location: string;
  /** https_redirect's answer may change with the config: never cached. */
  readonly noStore?: boolean;
}

/**
 * `https_redirect`: 308 (method and body kept) to the same host and path on https://, on the
 * default port: the port the client used was the plain one, and behind a load balancer or a
 * Kubernetes Service the public HTTPS port is 443 whatever the listener's own port is.
 * Undefined: the request has no Host to send the client back to.
 */
export function httpsRedirect(req: ClientRequest): RedirectAnswer | undefined {
  const host = hostWithoutPort(requestHost(req.rawHeaders) ?? '');
  if (host === '') return undefined;
  return { status: 308, location: `https://${host}${req.url ?? '/'}`, noStore: true };
}

/**
 * A redirect route's answer (routing/redirect.ts), built from the request's scheme, Host and
 * path. Undefined: the new path is refused by the normal form, or there is no Host.
 */
export function routeRedirect(
  route: Route,
  req: ClientRequest,
  scheme: 'http' | 'https',
): RedirectAnswer | undefined {
  const redirect = route.redirect;
  const host = requestHost(req.rawHeaders) ?? '';
  if (redirect === undefined || host === '') return undefined;
  const location = redirect.location({ scheme, host, url: req.url ?? '/' });
  return location === undefined ? undefined : { status: redirect.status, location };
}

/** A route's own redirect is cached as its status says (301 and 308 are permanent). */
export function sendRedirect(res: ClientResponse, answer: RedirectAnswer, requestId: string) {
  const headers: Record<string, string | number> = {
    location: answer.location,
    'content-length': 0,
    'x-request-id': requestId,
  };
  if (answer.noStore === true) headers['cache-control'] = 'no-store';
  res.writeHead(answer.status, headers);
  res.end();
}

function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

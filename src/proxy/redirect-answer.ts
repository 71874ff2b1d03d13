import { splitHostHeader } from '../routing/redirect.ts';
import type { Redirect } from '../routing/redirect.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import { requestHost } from './request-guard.ts';
import { routedUrl } from '../routing/route.ts';
import type { Route } from '../routing/route.ts';
import type { ClientError } from './upstream-errors.ts';

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
 * `bad_host`: the request has no Host to send the client back to.
 */
export function httpsRedirect(req: ClientRequest): RedirectAnswer | 'bad_host' {
  const [host] = splitHostHeader(requestHost(req.rawHeaders) ?? '');
  if (host === '') return 'bad_host';
  return { status: 308, location: `https://${host}${req.url ?? '/'}`, noStore: true };
}

/**
 * A redirect route's answer (routing/redirect.ts), built from the request's scheme, Host and
 * path; or why there is none: no Host (an HTTP/1.0 request may omit it), or a new path the
 * normal form refuses.
 */
export function routeRedirect(
  redirect: Redirect,
  req: ClientRequest,
  scheme: 'http' | 'https',
): RedirectAnswer | 'bad_host' | 'bad_rewrite' {
  const host = requestHost(req.rawHeaders) ?? '';
  if (host === '') return 'bad_host';
  const location = redirect.location({ scheme, host, url: req.url ?? '/' });
  return location === undefined ? 'bad_rewrite' : { status: redirect.status, location };
}

/** A route's own redirect is cached as its status says (301 and 308 are permanent). */
/**
 * What the proxy answers itself for a matched route past its gate: the route's redirect, or
 * 400 for a rewrite the normal form refuses (checked once here; the exchange applies the
 * rewrite again for each attempt). Undefined: the request goes upstream.
 */
export function ownAnswer(
  route: Route,
  req: ClientRequest,
  proto: string,
): RedirectAnswer | ClientError | undefined {
  if (route.redirect !== undefined) {
    return routeRedirect(route.redirect, req, proto === 'https' ? 'https' : 'http');
  }
  if (route.rewrite !== undefined && routedUrl(route, req.url ?? '/') === undefined) {
    return 'bad_rewrite';
  }
  return undefined;
}

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

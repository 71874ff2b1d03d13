import { applyToHeaderObject } from '../routing/header-rules.ts';
import type { HeaderObject } from '../routing/header-rules.ts';
import type { Route } from '../routing/route.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import { applyCors } from './cors.ts';
import { responseHeadersFromFlat } from './headers.ts';

/**
 * The headers of an upstream's response as the client gets them, in this order: the
 * upstream's own (hop-by-hop ones dropped), the request id, the route's CORS headers, then its
 * `response_headers` rules (an operator's explicit rule wins). Affinity and compression, which
 * depend on the exchange's state, come after (exchange.ts).
 */
export function clientResponseHeaders(
  route: Route,
  req: ClientRequest,
  flat: readonly string[],
  requestId: string,
): HeaderObject {
  const out = responseHeadersFromFlat(flat);
  out['x-request-id'] = requestId;
  if (route.cors !== undefined) applyCors(route.cors, req, out);
  return route.responseRules === undefined ? out : applyToHeaderObject(route.responseRules, out);
}

/**
 * A 103 Early Hints from the upstream is passed on with its Link headers, to HTTP/1.1 clients
 * only (an HTTP/1.0 client cannot take an interim response); other 1xx are dropped.
 */
export function relayEarlyHints(
  req: ClientRequest,
  res: ClientResponse,
  status: number,
  headers: readonly string[],
): void {
  if (status !== 103 || req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return;
  const links: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() === 'link') links.push(headers[i + 1] as string);
  }
  if (links.length === 0 || res.headersSent) return;
  try {
    res.writeEarlyHints({ link: links.length === 1 ? (links[0] as string) : links });
  } catch {
    // A Link value Node will not write is dropped with the hint; the final response follows.
  }
}

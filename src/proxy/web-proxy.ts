import type { IncomingMessage } from 'node:http';
import type { Agent, Dispatcher } from 'undici';
import { applyToFlatHeaders } from '../routing/header-rules.ts';
import { upstreamPath } from '../routing/route.ts';
import type { Route } from '../routing/route.ts';
import { upstreamHeaders } from './forward-headers.ts';
import type { ClientHop } from './forward-headers.ts';
import type { Attempt, UpstreamExchange } from './upstream-exchange.ts';

/**
 * Dispatches one attempt of a plain request (with or without a body; `Expect: 100-continue`
 * ones too, which Node has already answered) through an undici Agent, with a handler that
 * writes into the client's response directly.
 */
export function dispatchWeb(agent: Agent, exchange: UpstreamExchange, attempt: Attempt): void {
  const { req, route } = exchange;
  const options: Dispatcher.DispatchOptions = {
    origin: attempt.state.target.origin,
    path: upstreamPath(route, attempt.state.target, req.url ?? '/'),
    method: req.method as Dispatcher.HttpMethod,
    headers: exchange.headers,
    body: requestHasBody(req) ? req : null,
    // Until the response headers (504), then the longest silence between body chunks.
    headersTimeout: route.responseMs,
    bodyTimeout: route.idleMs,
  };
  try {
    agent.dispatch(options, attempt);
  } catch (err) {
    exchange.fail(attempt, err as Error);
  }
}

/** The headers an exchange sends upstream on every attempt: sanitised, then the route's rules. */
export function forwardedHeaders(req: IncomingMessage, route: Route, hop: ClientHop): string[] {
  const headers = upstreamHeaders(req.rawHeaders, hop);
  return route.requestRules === undefined
    ? headers
    : applyToFlatHeaders(route.requestRules, headers);
}

/** An HTTP/2 stream's request (Node's compat Http2ServerRequest), not an HTTP/1 message. */
export function isHttp2Stream(req: IncomingMessage): boolean {
  return (req as { stream?: unknown }).stream !== undefined;
}

/** HTTP/2 has no framing headers: a body follows unless the HEADERS frame ended the stream. */
export function requestHasBody(req: IncomingMessage): boolean {
  if (isHttp2Stream(req)) {
    return (
      (req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders !== true
    );
  }
  return hasBody(req.rawHeaders);
}

/**
 * A body: Content-Length other than 0, or Transfer-Encoding (Node has already refused a
 * request with both). A GET without one must not look like a stream to undici.
 */
export function hasBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (raw[i + 1] !== '0') return true;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      return true;
    }
  }
  return false;
}

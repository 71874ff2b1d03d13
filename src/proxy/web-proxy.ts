import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent, Dispatcher } from 'undici';
import type { Route } from '../routing/route-table.ts';
import { upstreamPath } from '../routing/route-table.ts';
import type { CompletionHandler } from './engine.ts';
import { upstreamHeaders } from './forward-headers.ts';
import type { ClientHop } from './forward-headers.ts';
import { UpstreamExchange } from './upstream-exchange.ts';
import type { ExchangeHooks } from './upstream-exchange.ts';

/**
 * Dispatches one plain request (with or without a body; `Expect: 100-continue` ones too, which
 * Node has already answered) through the engine's undici Agent, with a handler that writes
 * into the client's response directly.
 */
export function dispatchWeb(
  agent: Agent,
  hooks: ExchangeHooks,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  hop: ClientHop,
  onComplete: CompletionHandler | undefined,
): void {
  const exchange = new UpstreamExchange(req, res, route, performance.now(), hooks, onComplete);
  const options: Dispatcher.DispatchOptions = {
    origin: route.origin,
    path: upstreamPath(route, req.url ?? '/'),
    method: req.method as Dispatcher.HttpMethod,
    headers: upstreamHeaders(req.rawHeaders, hop),
    body: requestHasBody(req) ? req : null,
    // The route's timeout bounds the upstream's silence: before the response headers and
    // between body chunks (maps to 504).
    headersTimeout: route.timeoutMs,
    bodyTimeout: route.timeoutMs,
  };
  try {
    agent.dispatch(options, exchange);
  } catch (err) {
    exchange.fail(err as Error);
  }
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

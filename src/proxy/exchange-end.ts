import type { UpstreamError } from '../http1/upstream-error.ts';
import type { Route } from '../routing/route.ts';
import type { ClientResponse } from './client-side.ts';
import type { RequestIdentity } from './request-identity.ts';

/** Told when a request's exchange is over: how it ended, for metrics and the access log. */
export interface ExchangeEnd {
  readonly res: ClientResponse;
  readonly identity: RequestIdentity;
  /** performance.now() when the exchange began (the request's head was complete). */
  readonly startedAt: number;
  readonly route: Route;
  readonly seconds: number;
  /** Set when the exchange failed for good (the response is then the proxy's own, or a cut). */
  readonly error: UpstreamError | undefined;
  /** Set when the proxy refused the request mid-way (a body past `max_body_bytes`). */
  readonly refusal?: 'body_too_large' | undefined;
  readonly upstream: string;
  readonly attempts: number;
  /** From the last attempt's request head to the end of its response (undefined: none sent). */
  readonly upstreamSeconds: number | undefined;
  /** Response body bytes relayed to the client, and request body bytes read from it. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Set when the body was compressed (`compress: true`): its coding, bytes before and after. */
  readonly compression?: { coding: string; bytesIn: number; bytesOut: number } | undefined;
}

export type ExchangeListener = (end: ExchangeEnd) => void;

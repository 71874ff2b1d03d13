import type { Logger } from '../log.ts';
import type { ClientRequest } from './client-side.ts';
import type { ClientHop } from './forward-headers.ts';
import type { RequestIdentity } from './request-identity.ts';
import { requestHost } from './request-guard.ts';
import type { TrustBoundary } from './trust-boundary.ts';
import { refusalStatus } from '../http1/refusals.ts';
import type { Refusal } from '../http1/refusals.ts';

/** What one response was, beyond the request itself: every field the access line may carry. */
export interface AccessFacts {
  readonly status: number;
  /** performance.now() when the request's head was complete. */
  readonly startedAt: number;
  readonly site?: string | undefined;
  readonly route?: string | undefined;
  /** The upstream of the last attempt, as configured. */
  readonly upstream?: string | undefined;
  /** From the last attempt's request to the end of its response. */
  readonly upstreamMs?: number | undefined;
  readonly attempts?: number | undefined;
  /** Response body bytes written to the client. */
  readonly bytesSent: number;
  /** Request body bytes read from the client. */
  readonly bytesReceived: number;
  /** Why the proxy answered by itself (`no_route`, `bad_request`, `https_redirect`...). */
  readonly reason?: string | undefined;
}

/**
 * `log.access_log: true`: one JSON line per response, the ones the proxy makes itself
 * included (a refused request, an unknown host, a redirect, an upstream failure), with what
 * nginx's combined format and Envoy's default line hold: the client (as `trusted_proxies`
 * resolve it, and the peer it came from), protocol, method, host, path, status, bytes both
 * ways, user agent and referer, the route, the upstream, its time and the attempts, the
 * request id and trace id.
 */
export class AccessLog {
  readonly enabled: boolean;
  readonly #log: Logger;
  readonly #trust: TrustBoundary;

  constructor(log: Logger, trust: TrustBoundary, enabled: boolean) {
    this.#log = log;
    this.#trust = trust;
    this.enabled = enabled;
  }

  /**
   * What the HTTP/1.1 codec refused before a request existed (unparsable, a head too large,
   * too slow): no method, path or id, only who and why.
   */
  writeRefusal(hop: ClientHop, refusal: Refusal): void {
    if (!this.enabled) return;
    const { status, error } = refusalStatus(refusal);
    this.#log.info(
      {
        access: true,
        client: hop.address,
        peer: hop.address,
        protocol: 'HTTP/1.1',
        status,
        reason: error,
      },
      'request',
    );
  }

  write(req: ClientRequest, hop: ClientHop, identity: RequestIdentity, facts: AccessFacts): void {
    if (!this.enabled) return;
    const raw = req.rawHeaders;
    this.#log.info(
      {
        access: true,
        request_id: identity.id,
        trace_id: identity.traceId,
        client: this.#trust.clientAddress(hop, raw),
        peer: hop.address,
        protocol: protocolOf(req),
        method: req.method,
        host: requestHost(raw),
        url: req.url,
        status: facts.status,
        ms: Math.round(performance.now() - facts.startedAt),
        bytes_sent: facts.bytesSent,
        bytes_received: facts.bytesReceived,
        user_agent: headerOf(raw, 'user-agent'),
        referer: headerOf(raw, 'referer'),
        site: facts.site,
        route: facts.route,
        upstream: facts.upstream,
        upstream_ms: facts.upstreamMs === undefined ? undefined : Math.round(facts.upstreamMs),
        attempts: facts.attempts,
        reason: facts.reason,
      },
      'request',
    );
  }
}

function protocolOf(req: ClientRequest): string {
  return req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/1.${req.httpVersionMinor}`;
}

function headerOf(raw: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lower.length && name.toLowerCase() === lower) return raw[i + 1];
  }
  return undefined;
}

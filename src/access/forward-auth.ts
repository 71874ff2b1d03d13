import type { Socket } from 'node:net';
import type { ClientConnection, RequestPlan, ResponseHandler } from '../http1/client-connection.ts';
import { countedLength } from '../http1/framing.ts';
import { UpstreamError } from '../http1/upstream-error.ts';
import type { ForwardAuthConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { upstreamHeaders } from '../proxy/forward-headers.ts';
import { responseHeadersFromFlat } from '../proxy/headers.ts';
import { requestHead } from '../proxy/upstream-request.ts';
import type { OriginPool, Waiter } from '../upstream/origin-pool.ts';
import type { UpstreamClient } from '../upstream/upstream-client.ts';
import type { ForwardAuthChecker, GateRequest, GateVerdict, HeaderPatch } from './request-gate.ts';

/**
 * The most body of a refusal the proxy holds to relay it (a login page, a JSON error): 64 KB.
 * An auth service that says more is broken for this purpose; the client gets a 502.
 */
export const RELAY_BODY_LIMIT = 64 * 1024;

/** `forward_auth` compiled once per config object (configs are frozen and die with their snapshot). */
interface CompiledAuth {
  /** The pool key: the same `scheme://host:port` an upstream with this address uses. */
  readonly origin: string;
  /** The url's own path and query, as written. */
  readonly target: string;
  readonly host: string;
  /** Lower-case names copied from the client's request to the auth service. */
  readonly toAuth: ReadonlySet<string>;
  /** Lower-case name -> the name as configured, copied from a 2xx onto the upstream request. */
  readonly fromAuth: ReadonlyMap<string, string>;
  readonly remove: readonly string[];
}

const compiled = new WeakMap<ForwardAuthConfig, CompiledAuth>();

function compile(config: ForwardAuthConfig): CompiledAuth {
  let auth = compiled.get(config);
  if (auth !== undefined) return auth;
  const url = new URL(config.url);
  const fromAuth = new Map(config.response_headers.map((n) => [n.toLowerCase(), n]));
  auth = Object.freeze({
    origin: url.origin,
    target: `${url.pathname}${url.search}`,
    host: url.host,
    toAuth: new Set(config.request_headers.map((n) => n.toLowerCase())),
    fromAuth,
    remove: Object.freeze([...fromAuth.keys()].map((n) => n.replaceAll('_', '-'))),
  });
  compiled.set(config, auth);
  return auth;
}

/** What the auth service is told of the request besides the named headers (as upstreams are). */
const ALWAYS_SENT = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'traceparent',
  'tracestate',
]);

/**
 * `access.forward_auth` (nginx auth_request, Traefik ForwardAuth): one subrequest per request,
 * through the same upstream client as every upstream (a pool per origin, the same caps), and
 * its answer is the verdict. Always `GET` with no body, whatever the client's method: the body
 * is the upstream's and must not be read before it gets it, and a body-less POST would make an
 * auth service wait for a body or refuse the framing. The original method and URI travel in
 * `X-Forwarded-Method` and `X-Forwarded-Uri`.
 */
export class ForwardAuth implements ForwardAuthChecker {
  readonly #client: UpstreamClient;
  readonly #log: Logger;

  constructor(client: UpstreamClient, log: Logger) {
    this.#client = client;
    this.#log = log;
  }

  check(config: ForwardAuthConfig, request: GateRequest): Promise<GateVerdict> {
    const auth = compile(config);
    const head = requestHead('GET', auth.target, authHeaders(auth, request), 'none', auth.host);
    return new Promise((resolve) => {
      new Subrequest(this.#client.pool(auth.origin), head, auth, config, (verdict, err) => {
        if (err !== undefined) {
          this.#log.warn(
            {
              auth_url: config.url,
              reason: verdict.pass ? undefined : verdict.reason,
              code: err.code,
              err: err.message,
              method: request.req.method,
              url: request.req.url,
              request_id: request.identity.id,
              trace_id: request.identity.traceId,
            },
            'forward auth failed',
          );
        }
        resolve(verdict);
      }).start();
    });
  }
}

/**
 * The subrequest's headers: X-Forwarded-Method and -Uri (the path and query as routed, before
 * strip_prefix or a rewrite), X-Forwarded-For, -Proto and -Host built as for upstreams (so
 * trusted_proxies holds here too), the request's identity, and each header `request_headers`
 * names as the client sent it (HTTP/2's split Cookie lines joined, as RFC 9113 §8.2.3 asks).
 */
function authHeaders(auth: CompiledAuth, request: GateRequest): string[] {
  const { req, hop, identity } = request;
  const out = ['x-forwarded-method', req.method ?? 'GET', 'x-forwarded-uri', req.url ?? '/'];
  let cookie: string | undefined;
  const sanitised = upstreamHeaders(req.rawHeaders, hop, identity);
  for (let i = 0; i < sanitised.length; i += 2) {
    const name = (sanitised[i] as string).toLowerCase();
    const value = sanitised[i + 1] as string;
    if (name === 'cookie' && auth.toAuth.has(name)) {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
    } else if (ALWAYS_SENT.has(name) || auth.toAuth.has(name)) {
      out.push(name, value);
    }
  }
  if (cookie !== undefined) out.push('cookie', cookie);
  return out;
}

type Settle = (verdict: GateVerdict, err?: UpstreamError) => void;

const UNAVAILABLE: GateVerdict = {
  pass: false,
  reason: 'auth_unavailable',
  refusal: 'auth_unavailable',
};
const TIMED_OUT: GateVerdict = { pass: false, reason: 'auth_timeout', refusal: 'auth_timeout' };

/**
 * One auth subrequest, in the manner of a health probe (upstream/probe.ts): the whole of it,
 * connection and queue included, has `timeout_ms`. A 2xx decides at its head (its body is read
 * and dropped, so the connection goes back to the pool); any other answer is read whole, at most
 * RELAY_BODY_LIMIT, to be relayed.
 */
class Subrequest implements ResponseHandler, Waiter {
  readonly #pool: OriginPool;
  readonly #head: string;
  readonly #auth: CompiledAuth;
  readonly #timeoutMs: number;
  readonly #settle: Settle;
  readonly #deadline: number;
  #timer: NodeJS.Timeout | undefined;
  #settled = false;
  #connection: ClientConnection | undefined;
  /** The stale-connection resend was used (as exchanges do): a second would hide a real failure. */
  #resent = false;
  #status = 0;
  #headers: string[] = [];
  #body: Buffer[] = [];
  #bodyBytes = 0;

  constructor(
    pool: OriginPool,
    head: string,
    auth: CompiledAuth,
    config: ForwardAuthConfig,
    settle: Settle,
  ) {
    this.#pool = pool;
    this.#head = head;
    this.#auth = auth;
    this.#timeoutMs = config.timeout_ms;
    this.#settle = settle;
    this.#deadline = performance.now() + config.timeout_ms;
  }

  start(): void {
    this.#timer = setTimeout(() => this.#timedOut(), this.#timeoutMs);
    this.#acquire();
  }

  /** What is left of timeout_ms, for the connect and the socket timers (never 0: that is "off"). */
  #left(): number {
    return Math.max(1, Math.ceil(this.#deadline - performance.now()));
  }

  #acquire(): void {
    const got = this.#pool.acquire(this.#left(), this);
    // A full pool is the proxy's own limit, not the auth service's answer: never let through.
    if (got === 'busy') {
      return this.#fail(UNAVAILABLE, new UpstreamError('busy', 'pool and queue are full'));
    }
    if (got !== 'queued') this.granted(got);
  }

  granted(connection: ClientConnection): void {
    if (this.#settled) return this.#pool.released(connection);
    this.#connection = connection;
    const left = this.#left();
    const plan: RequestPlan = {
      body: 'none',
      expectBody: true,
      upgrade: false,
      responseMs: left,
      idleMs: left,
    };
    connection.send(this.#head, plan, this);
  }

  refused(err: UpstreamError): void {
    if (!this.#settled) this.#failed(err);
  }

  onInterim(): void {
    // 100 and 103 to a GET: the final answer follows.
  }

  onHead(status: number, headers: string[]): void {
    if (this.#settled) return;
    this.#status = status;
    if (status >= 200 && status < 300)
      return this.#done({ pass: true, patch: this.#patch(headers) });
    this.#headers = headers;
    if (countedLength(headers) > RELAY_BODY_LIMIT) this.#tooLarge();
  }

  onData(chunk: Buffer): void {
    if (this.#settled || (this.#status >= 200 && this.#status < 300)) return;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > RELAY_BODY_LIMIT) return this.#tooLarge();
    this.#body.push(chunk);
  }

  onEnd(): void {
    this.#connection = undefined;
    if (this.#settled) return;
    this.#done({
      pass: false,
      reason: 'auth_denied',
      relay: {
        status: this.#status,
        headers: responseHeadersFromFlat(this.#headers),
        body: Buffer.concat(this.#body, this.#bodyBytes),
      },
    });
  }

  onUpgrade(_status: number, _headers: string[], socket: Socket): void {
    socket.destroy(); // never asked for: the connection refuses a 101 to a plain request first
  }

  onError(err: UpstreamError): void {
    const connection = this.#connection;
    this.#connection = undefined;
    if (this.#settled) return;
    // A kept-alive connection the auth service had closed just as the subrequest went out:
    // nothing was answered, so send it once more on a new one (exchange.ts does the same).
    if (
      connection !== undefined &&
      connection.requests > 1 &&
      connection.answeredNothing &&
      !this.#resent &&
      err.failure === 'reset'
    ) {
      this.#resent = true;
      return this.#acquire();
    }
    this.#failed(err);
  }

  /** The auth service's 2xx headers that `response_headers` names, for the upstream request. */
  #patch(headers: string[]): HeaderPatch | undefined {
    const { fromAuth, remove } = this.#auth;
    if (remove.length === 0) return undefined;
    const add: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const name = fromAuth.get((headers[i] as string).toLowerCase());
      if (name !== undefined) add.push(name, headers[i + 1] as string);
    }
    // The client's own copies go even when the auth service sends none: never a forged X-User.
    return { remove, add };
  }

  #failed(err: UpstreamError): void {
    const slow = err.failure === 'timeout' || err.failure === 'connect_timeout';
    this.#fail(slow ? TIMED_OUT : UNAVAILABLE, err);
  }

  #tooLarge(): void {
    const why = `a refusal body over ${RELAY_BODY_LIMIT} bytes`;
    this.#fail(UNAVAILABLE, new UpstreamError('protocol', why, 'relay_too_large'));
  }

  #timedOut(): void {
    if (this.#settled) return;
    const why = `no answer within ${this.#timeoutMs} ms`;
    this.#fail(TIMED_OUT, new UpstreamError('timeout', why));
  }

  /** Gives up: out of the pool's queue, the connection (if any) closed, the failure told. */
  #fail(verdict: GateVerdict, err: UpstreamError): void {
    this.#pool.cancel(this);
    const connection = this.#connection;
    this.#connection = undefined;
    connection?.abort();
    this.#done(verdict, err);
  }

  #done(verdict: GateVerdict, err?: UpstreamError): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#body = [];
    this.#settle(verdict, err);
  }
}

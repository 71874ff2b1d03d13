import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { formatAddress } from '../config/address.ts';
import type { ListenAddress } from '../config/address.ts';
import { ProxyError } from '../errors.ts';
import http2 from 'node:http2';
import https from 'node:https';
import type { SecureContext } from 'node:tls';
import type { ClientConfig } from '../config/types.ts';
import type { CertificateSet } from '../tls/certificates.ts';
import { drainAcceptQueue } from './accept-queue.ts';
import { sendErrorOnSocket } from './upstream-errors.ts';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeListener = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

/** One listener to bind: its address, and whether it serves TLS (and HTTP/2 on it). */
export interface ListenerSpec extends ListenAddress {
  readonly tls: boolean;
  readonly http2: boolean;
}

type SniDone = (err: Error | null, context?: SecureContext) => void;

/** Both TLS server kinds, with the http.Server parts this file sets on them. */
type TlsServer = (https.Server | http2.Http2SecureServer) & {
  shouldUpgradeCallback: (req: IncomingMessage) => boolean;
};

/** Every listener kind, as close() uses them: HTTP/2 servers have no closeIdleConnections. */
type ProxyServer = (http.Server | TlsServer) & {
  closeIdleConnections?: () => void;
  closeAllConnections?: () => void;
};

/** What TLS listeners need: the serving certificates, and where to report failed handshakes. */
export interface TlsListenerSupport {
  certificates(): CertificateSet;
  onHandshakeFailure(err: NodeJS.ErrnoException): void;
}

/** The default context: the first certificate, for clients that send no SNI or match none. */
function defaultContextOptions(set: CertificateSet): {
  key?: Buffer;
  cert?: Buffer;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
} {
  const first = set.first;
  return first === undefined
    ? { minVersion: set.minVersion }
    : { key: first.key, cert: first.cert, minVersion: set.minVersion };
}

/** How a close ended: everything finished in time, or the grace period cut the rest. */
export type CloseOutcome = 'drained' | 'forced';

/**
 * The data-path listeners: bare node:http servers (no framework on the request path), all
 * sharing one request and one upgrade listener installed once.
 */
export class ProxyListeners {
  readonly #servers: ProxyServer[] = [];
  readonly #upgraded = new Set<Socket>();
  /** Sockets accepted by drainAcceptQueue: net.Server does not count them, so close() does. */
  readonly #adopted = new Set<Socket>();
  #adoptedGone: (() => void) | undefined;
  readonly #onRequest: RequestListener;
  readonly #onUpgrade: UpgradeListener;

  readonly #client: ClientConfig;
  readonly #tls: TlsListenerSupport;
  readonly #tlsServers: TlsServer[] = [];
  /** HTTP/2 sessions, cut with the rest when the grace period runs out. */
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  constructor(
    onRequest: RequestListener,
    onUpgrade: UpgradeListener,
    client: ClientConfig,
    tls: TlsListenerSupport,
  ) {
    this.#onRequest = onRequest;
    this.#onUpgrade = onUpgrade;
    this.#client = client;
    this.#tls = tls;
  }

  /**
   * A reload brought other certificates: handshakes from now on get them (SNI reads the
   * current set itself; this replaces the default, served to clients without SNI). Open
   * connections keep the session they negotiated.
   */
  useCertificates(set: CertificateSet): void {
    for (const server of this.#tlsServers) server.setSecureContext(defaultContextOptions(set));
  }

  /** Binds every address or none: on the first failure the ones already bound are closed. */
  async listen(addresses: readonly ListenerSpec[]): Promise<string[]> {
    const bound: string[] = [];
    try {
      for (const address of addresses) bound.push(await this.#listenOne(address));
    } catch (err) {
      for (const server of this.#servers) server.close();
      throw err;
    }
    return bound;
  }

  get listening(): boolean {
    return this.#servers.length > 0 && this.#servers.every((s) => s.listening);
  }

  async #listenOne(address: ListenerSpec): Promise<string> {
    const client = this.#client;
    const options: http.ServerOptions = {
      // Default 75 s: longer than the idle timeout of common load balancers (60 s), so they
      // close first. Node adds keepAliveTimeoutBuffer (1 s) before it closes the socket.
      keepAliveTimeout: client.keepalive_timeout_ms,
      headersTimeout: client.header_timeout_ms,
      // Headers and body together; 0 turns it off (Node then checks headers only).
      requestTimeout: client.request_timeout_ms,
      // Node checks both deadlines on this interval (30 s by default, which made a 60 s
      // header timeout close at 88-93 s): once a second makes the documented figures true.
      connectionsCheckingInterval: 1_000,
      // Only WebSocket handshakes are upgrades; any other Upgrade (h2c, a POST with one) is
      // served as a normal request without it, as nginx does.
      shouldUpgradeCallback: isWebSocketHandshake,
    };
    const server: ProxyServer = address.tls
      ? this.#tlsServer(options, address.http2)
      : http.createServer(options);
    server.on('request', this.#onRequest);
    drainAcceptQueue(server, (socket) => this.#adopt(socket));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      this.#onUpgrade(req, socket, head);
    });
    // A forward proxy's method: refused in words (405) rather than by Node's silent close.
    server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.on('error', () => socket.destroy());
      sendErrorOnSocket(socket, 'method_not_allowed');
    });
    server.listen({ host: address.host, port: address.port, backlog: 4096 });
    try {
      await once(server, 'listening');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      const text = formatAddress(address.host, address.port);
      throw new ProxyError('ERR_LISTEN', `cannot listen on ${text}: ${code}`, { cause: err });
    }
    this.#servers.push(server);
    const bound = server.address() as AddressInfo;
    return formatAddress(bound.address, bound.port);
  }

  /**
   * HTTPS, and HTTP/2 by ALPN (h2, then http/1.1) unless the listener says `http2: false`.
   * Node's HTTP/2 server takes HTTP/1.1 connections through the same code as http.Server,
   * with the same timeouts; its default upgrade rule is replaced by ours.
   */
  #tlsServer(options: http.ServerOptions, http2Enabled: boolean): TlsServer {
    const tls = this.#tls;
    const secure = {
      ...options,
      ...defaultContextOptions(tls.certificates()),
      SNICallback: (servername: string, done: SniDone) =>
        done(null, tls.certificates().select(servername)?.context),
    };
    let server: TlsServer;
    if (http2Enabled) {
      const h2 = http2.createSecureServer({
        ...secure,
        allowHTTP1: true,
        // nginx's http2_max_concurrent_streams; each stream is one upstream exchange.
        settings: { maxConcurrentStreams: 128 },
      });
      // An HTTP/2 connection with no open stream closes after the keep-alive timeout.
      h2.setTimeout(this.#client.keepalive_timeout_ms);
      h2.on('session', (session: http2.ServerHttp2Session) => {
        this.#sessions.add(session);
        session.once('close', () => this.#sessions.delete(session));
      });
      server = h2 as unknown as TlsServer;
    } else {
      server = https.createServer({ ...secure, ALPNProtocols: ['http/1.1'] }) as TlsServer;
    }
    server.shouldUpgradeCallback = isWebSocketHandshake;
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      tls.onHandshakeFailure(err);
      socket.destroy();
    });
    this.#tlsServers.push(server);
    return server;
  }

  #adopt(socket: Socket): void {
    this.#adopted.add(socket);
    socket.once('close', () => {
      this.#adopted.delete(socket);
      if (this.#adopted.size === 0) this.#adoptedGone?.();
    });
  }

  /** Resolves once every adopted socket has closed (at once when there are none). */
  #adoptedClosed(): Promise<void> {
    if (this.#adopted.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#adoptedGone = resolve));
  }

  /**
   * Stops accepting, lets requests in flight finish, and closes keep-alive connections as
   * they fall idle. After `graceMs` whatever is left (slow requests, WebSockets) is cut.
   */
  async close(graceMs: number): Promise<CloseOutcome> {
    const closed = Promise.all(
      this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    ).then(() => this.#adoptedClosed());
    const reaper = setInterval(() => {
      for (const server of this.#servers) server.closeIdleConnections?.();
    }, 50);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'forced'>((resolve) => {
      timer = setTimeout(() => resolve('forced'), graceMs);
    });
    const outcome = await Promise.race([closed.then(() => 'drained' as const), expired]);
    clearInterval(reaper);
    clearTimeout(timer);
    if (outcome === 'forced') {
      for (const server of this.#servers) server.closeAllConnections?.();
      for (const session of this.#sessions) session.destroy();
      for (const socket of this.#upgraded) socket.destroy();
      await closed;
    }
    return outcome;
  }
}

/** A GET asking for `Upgrade: websocket`, with no body (RFC 6455 §4.1). */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false;
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || !/(?:^|,)\s*websocket\s*(?:,|$)/i.test(upgrade)) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

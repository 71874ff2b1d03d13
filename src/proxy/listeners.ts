import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import type { SecureContext, TLSSocket } from 'node:tls';
import { formatAddress } from '../config/address.ts';
import type { ListenAddress } from '../config/address.ts';
import type { ClientConfig } from '../config/types.ts';
import { ProxyError } from '../errors.ts';
import { ConnectionClock } from '../http1/connection-clock.ts';
import type { IncomingRequest } from '../http1/incoming-request.ts';
import type { OutgoingResponse } from '../http1/outgoing-response.ts';
import { ServerConnection } from '../http1/server-connection.ts';
import type { ServerHooks } from '../http1/server-connection.ts';
import type { Refusal } from '../http1/refusals.ts';
import type { CertificateSet } from '../tls/certificates.ts';
import { drainAcceptQueue } from './accept-queue.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';

export type RequestListener = (req: ClientRequest, res: ClientResponse) => void;
export type UpgradeListener = (req: ClientRequest, socket: Socket, head: Buffer) => void;

/** One listener to bind: its address, and whether it serves TLS (and HTTP/2 on it). */
export interface ListenerSpec extends ListenAddress {
  readonly tls: boolean;
  readonly http2: boolean;
  /** SO_REUSEPORT: other workers bind the same address, the kernel spreads connections. */
  readonly reusePort?: boolean;
}

type SniDone = (err: Error | null, context?: SecureContext) => void;

/** What TLS listeners need: the serving certificates, and where to report failed handshakes. */
export interface TlsListenerSupport {
  certificates(): CertificateSet;
  onHandshakeFailure(err: NodeJS.ErrnoException): void;
}

/** The default context: the first certificate, for clients that send no SNI or match none. */
function defaultContextOptions(set: CertificateSet): tls.SecureContextOptions {
  const first = set.first;
  return first === undefined
    ? { minVersion: set.minVersion }
    : { key: first.key, cert: first.cert, minVersion: set.minVersion };
}

/** How a close ended: everything finished in time, or the grace period cut the rest. */
export type CloseOutcome = 'drained' | 'forced';

/**
 * The data-path listeners. HTTP/1.1, plain or over TLS (ALPN `http/1.1`), is served by this
 * proxy's own connection (http1/server-connection.ts); TLS connections that choose `h2` by
 * ALPN go to node:http2, whose streams take the same request path. One request and one upgrade
 * listener serve them all.
 */
export class ProxyListeners {
  readonly #servers: (net.Server | tls.Server)[] = [];
  readonly #tlsServers: tls.Server[] = [];
  readonly #connections = new Set<ServerConnection>();
  /**
   * Every accepted TCP socket, whatever became of it (mid-handshake, an HTTP/2 session's, an
   * HTTP/1.1 connection's): what is left of them once the drain is over is closed, so that the
   * servers' close completes.
   */
  readonly #accepted = new Set<Socket>();
  readonly #upgraded = new Set<Socket>();
  /** HTTP/2 sessions, cut with the rest when the grace period runs out. */
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #clock = new ConnectionClock();
  readonly #hooks: ServerHooks;
  readonly #onRequest: RequestListener;
  readonly #client: ClientConfig;
  readonly #tls: TlsListenerSupport;
  #h2: http2.Http2Server | undefined;
  #draining = false;

  constructor(
    onRequest: RequestListener,
    onUpgrade: UpgradeListener,
    client: ClientConfig,
    tlsSupport: TlsListenerSupport,
    onRefused?: (refusal: Refusal, socket: Socket) => void,
  ) {
    this.#onRequest = onRequest;
    this.#client = client;
    this.#tls = tlsSupport;
    this.#hooks = {
      request: (req: IncomingRequest, res: OutgoingResponse) => onRequest(req, res),
      upgrade: (req, socket, head) => {
        // The connection let go of the socket and its listeners: whatever answers on it now
        // (a tunnel, or a refusal) must not leave an error unheard.
        socket.on('error', () => socket.destroy());
        this.#upgraded.add(socket);
        socket.once('close', () => this.#upgraded.delete(socket));
        onUpgrade(req, socket, head);
      },
      upgrades: isWebSocketHandshake,
      draining: () => this.#draining,
      ...(onRefused === undefined ? {} : { refused: onRefused }),
    };
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
    const server = address.tls ? this.#tlsServer(address.http2) : this.#plainServer();
    // Accepts in a loop (accept-queue.ts); the extra sockets come through 'connection' too.
    drainAcceptQueue(server, () => undefined);
    server.on('connection', (socket: Socket) => {
      this.#accepted.add(socket);
      socket.once('close', () => this.#accepted.delete(socket));
    });
    server.listen({
      host: address.host,
      port: address.port,
      backlog: 4096,
      reusePort: address.reusePort === true,
    });
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

  #plainServer(): net.Server {
    // allowHalfOpen: a client that sends its requests and half-closes still gets its answers.
    return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.#serveHttp1(socket),
    );
  }

  #serveHttp1(socket: Socket): void {
    if (this.#draining) return void socket.destroy();
    socket.setNoDelay(true);
    const connection = new ServerConnection(
      socket,
      this.#hooks,
      {
        headerMs: this.#client.header_timeout_ms,
        requestMs: this.#client.request_timeout_ms,
        keepAliveMs: this.#client.keepalive_timeout_ms,
      },
      this.#clock,
    );
    this.#connections.add(connection);
    socket.once('close', () => this.#connections.delete(connection));
  }

  /**
   * HTTPS, and HTTP/2 by ALPN (h2, then http/1.1) unless the listener says `http2: false`.
   * The TLS server hands each connection to its protocol: h2 to node:http2 (a server that
   * never listens itself), http/1.1 to this proxy's own connection.
   */
  #tlsServer(http2Enabled: boolean): tls.Server {
    const support = this.#tls;
    const server = tls.createServer({
      ...defaultContextOptions(support.certificates()),
      ALPNProtocols: http2Enabled ? ['h2', 'http/1.1'] : ['http/1.1'],
      allowHalfOpen: true,
      SNICallback: (servername: string, done: SniDone) =>
        done(null, support.certificates().select(servername)?.context),
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') this.#http2().emit('connection', socket);
      else this.#serveHttp1(socket);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      support.onHandshakeFailure(err);
      socket.destroy();
    });
    this.#tlsServers.push(server);
    return server;
  }

  /** The HTTP/2 side, made on the first h2 connection. */
  #http2(): http2.Http2Server {
    if (this.#h2 !== undefined) return this.#h2;
    const h2 = http2.createServer({
      // nginx's http2_max_concurrent_streams; each stream is one upstream exchange.
      settings: { maxConcurrentStreams: 128 },
    });
    // An HTTP/2 connection with no open stream closes after the keep-alive timeout.
    h2.setTimeout(this.#client.keepalive_timeout_ms);
    h2.on('request', this.#onRequest as never);
    h2.on('session', (session: http2.ServerHttp2Session) => {
      if (this.#draining) session.close();
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
    });
    this.#h2 = h2;
    return h2;
  }

  #settled(): boolean {
    return this.#connections.size === 0 && this.#sessions.size === 0;
  }

  /**
   * Stops accepting, lets requests in flight finish, and closes keep-alive connections as
   * they fall idle; responses meanwhile say `Connection: close`. After `graceMs` whatever is
   * left (slow requests, WebSockets) is cut.
   */
  async close(graceMs: number): Promise<CloseOutcome> {
    this.#draining = true;
    const stopped = Promise.all(
      this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
    for (const session of this.#sessions) session.close();
    const deadline = performance.now() + graceMs;
    let outcome: CloseOutcome = 'drained';
    for (;;) {
      for (const connection of this.#connections) connection.closeIfIdle();
      if (this.#settled() && this.#upgraded.size === 0) break;
      if (performance.now() >= deadline) {
        outcome = 'forced';
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (outcome === 'forced') {
      for (const connection of this.#connections) connection.socket.destroy();
      for (const session of this.#sessions) session.destroy();
      for (const socket of this.#upgraded) socket.destroy();
    }
    // Nothing is served on what is left: a handshake never finished, a session's socket its
    // peer half-closed.
    for (const socket of this.#accepted) socket.destroy();
    await stopped;
    this.#clock.close();
    return outcome;
  }
}

/** A GET asking for `Upgrade: websocket`, with no body (RFC 6455 §4.1). */
export function isWebSocketHandshake(req: ClientRequest): boolean {
  if (req.method !== 'GET') return false;
  let upgrade: string | undefined;
  let body = false;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name === 'upgrade') upgrade = upgrade === undefined ? value : `${upgrade}, ${value}`;
    else if (name === 'transfer-encoding') body = true;
    else if (name === 'content-length' && value !== '0') body = true;
  }
  return upgrade !== undefined && /(?:^|,)\s*websocket\s*(?:,|$)/i.test(upgrade) && !body;
}

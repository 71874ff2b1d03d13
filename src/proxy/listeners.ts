import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';
import { formatAddress } from '../config/address.ts';
import type { ListenAddress } from '../config/address.ts';
import { ProxyError } from '../errors.ts';
import https from 'node:https';
import type { ClientConfig } from '../config/types.ts';
import type { CertificateSet } from '../tls/certificates.ts';
import { drainAcceptQueue } from './accept-queue.ts';
import { sendErrorOnSocket } from './upstream-errors.ts';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeListener = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

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
  readonly #servers: http.Server[] = [];
  readonly #upgraded = new Set<Socket>();
  /** Sockets accepted by drainAcceptQueue: net.Server does not count them, so close() does. */
  readonly #adopted = new Set<Socket>();
  #adoptedGone: (() => void) | undefined;
  readonly #onRequest: RequestListener;
  readonly #onUpgrade: UpgradeListener;

  readonly #client: ClientConfig;
  readonly #tls: TlsListenerSupport;
  readonly #tlsServers: https.Server[] = [];

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
  async listen(addresses: readonly (ListenAddress & { tls: boolean })[]): Promise<string[]> {
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

  async #listenOne(address: ListenAddress & { tls: boolean }): Promise<string> {
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
    const server = address.tls ? this.#tlsServer(options) : http.createServer(options);
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

  #tlsServer(options: http.ServerOptions): https.Server {
    const tls = this.#tls;
    const server = https.createServer({
      ...options,
      ...defaultContextOptions(tls.certificates()),
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, done) => done(null, tls.certificates().select(servername)?.context),
    });
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
      for (const server of this.#servers) server.closeIdleConnections();
    }, 50);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'forced'>((resolve) => {
      timer = setTimeout(() => resolve('forced'), graceMs);
    });
    const outcome = await Promise.race([closed.then(() => 'drained' as const), expired]);
    clearInterval(reaper);
    clearTimeout(timer);
    if (outcome === 'forced') {
      for (const server of this.#servers) server.closeAllConnections();
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

import type { BlockList } from 'node:net';
import type { Socket } from 'node:net';
import { blockListOf } from '../config/cidr.ts';
import type { ClientHop } from './forward-headers.ts';

const HOP = Symbol('reverse-proxy.hop');

interface HopSocket extends Socket {
  [HOP]?: ClientHop;
}

/**
 * `trusted_proxies`: which peers may speak for the clients behind them in X-Forwarded-*.
 * Empty (the default) trusts no one, and costs nothing per request.
 */
export class TrustBoundary {
  readonly #trusted: BlockList | undefined;

  constructor(cidrs: readonly string[]) {
    this.#trusted = cidrs.length === 0 ? undefined : blockListOf(cidrs);
  }

  /**
   * What this hop tells the upstream about requests that came in on `socket`: the same for
   * every request of a connection, so worked out once and kept on the socket.
   */
  hop(socket: Socket, proto: string): ClientHop {
    const known = (socket as HopSocket)[HOP];
    if (known !== undefined) return known;
    const address = socket.remoteAddress ?? '';
    const hop: ClientHop = Object.freeze({ address, proto, trusted: this.isTrusted(address) });
    (socket as HopSocket)[HOP] = hop;
    return hop;
  }

  isTrusted(address: string): boolean {
    if (this.#trusted === undefined || address === '') return false;
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; the list names them as IPv4.
    if (address.startsWith('::ffff:') && address.includes('.')) {
      return this.#trusted.check(address.slice(7), 'ipv4');
    }
    return this.#trusted.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  }
}

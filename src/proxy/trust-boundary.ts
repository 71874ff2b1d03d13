import type { BlockList } from 'node:net';
import type { Socket } from 'node:net';
import { blockListOf, inNetworks } from '../config/cidr.ts';
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

  /**
   * The client as `trusted_proxies` resolve it: the peer itself, unless it is trusted; then
   * the right-most X-Forwarded-For address that is not itself trusted (nginx's
   * `real_ip_recursive on`), so a forged address an untrusted client put first is never it.
   */
  clientAddress(hop: ClientHop, raw: readonly string[]): string {
    if (!hop.trusted) return hop.address;
    let chain: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length !== 15 || name.toLowerCase() !== 'x-forwarded-for') continue;
      chain = chain.concat((raw[i + 1] as string).split(','));
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const address = (chain[i] as string).trim();
      if (address !== '' && !this.isTrusted(address)) return address;
    }
    return (chain[0] ?? hop.address).trim() || hop.address;
  }

  isTrusted(address: string): boolean {
    return this.#trusted !== undefined && inNetworks(this.#trusted, address);
  }
}

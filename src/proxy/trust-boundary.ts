import type { BlockList } from 'node:net';
import type { Socket } from 'node:net';
import { blockListOf } from '../config/cidr.ts';
import type { ClientHop } from './forward-headers.ts';

/**
 * `trusted_proxies`: which peers may speak for the clients behind them in X-Forwarded-*.
 * Empty (the default) trusts no one, and costs nothing per request.
 */
export class TrustBoundary {
  readonly #trusted: BlockList | undefined;

  constructor(cidrs: readonly string[]) {
    this.#trusted = cidrs.length === 0 ? undefined : blockListOf(cidrs);
  }

  /** What this hop tells the upstream about a request that came in on `socket`. */
  hop(socket: Socket, proto: string): ClientHop {
    const address = socket.remoteAddress ?? '';
    return { address, proto, trusted: this.isTrusted(address) };
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

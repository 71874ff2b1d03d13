import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';

/** One `trusted_proxies` entry: an address or a network, `10.0.0.0/8`, `fd00::/8`, `::1`. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | { error: string } {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) {
    return { error: `"${address}" is not an IPv4 or IPv6 address (CIDR: 10.0.0.0/8, fd00::/8)` };
  }
  const max = family === 'ipv4' ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return { error: `prefix "/${prefixText}" must be a number from 0 to ${max}` };
  }
  return { address, prefix: Number(prefixText), family };
}

/** The networks as one Node BlockList (its check is the matching; nothing hand-written). */
export function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if ('error' in cidr) throw new Error(`unvalidated CIDR ${entry}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

/**
 * Whether an address (as a socket or X-Forwarded-For gives it) is inside the networks: what
 * `trusted_proxies` and the `access` lists both ask. A dual-stack listener reports IPv4 peers
 * as ::ffff:a.b.c.d, and the lists name them as IPv4; a value that is no address is outside.
 */
export function inNetworks(list: BlockList, address: string): boolean {
  if (isIP(address) === 0) return false;
  if (address.startsWith('::ffff:') && address.includes('.')) {
    return list.check(address.slice(7), 'ipv4');
  }
  return list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
}

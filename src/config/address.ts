import { isIPv4, isIPv6 } from 'node:net';

/** A listen address split into what `server.listen()` takes. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `HOST:PORT`, where HOST is an IPv4 literal, a bracketed IPv6 literal or `localhost`.
 * Names other than localhost are refused: a listener bound through DNS would change with it.
 * Port 0 asks the kernel for a free port (used by tests; the bound port is logged).
 */
export function parseListenAddress(text: string): ListenAddress | { error: string } {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return { error: 'must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080' };
  const hostPart = text.slice(0, colon);
  const portPart = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portPart) || Number(portPart) > 65535) {
    return { error: `port "${portPart}" must be a number from 0 to 65535` };
  }
  const port = Number(portPart);
  if (hostPart.startsWith('[') && hostPart.endsWith(']')) {
    const host = hostPart.slice(1, -1);
    if (!isIPv6(host)) return { error: `"${host}" is not an IPv6 address` };
    return { host, port };
  }
  if (hostPart === 'localhost' || isIPv4(hostPart)) return { host: hostPart, port };
  if (isIPv6(hostPart)) return { error: 'an IPv6 address must be in brackets, e.g. [::1]:8080' };
  return { error: `host "${hostPart}" must be an IPv4 address, [IPv6] or localhost` };
}

/** True for addresses that accept connections on every interface. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || /^(0{0,4}:){2,7}0{0,4}$/.test(host);
}

/** Formats an address the way it is written in the config, for logs and errors. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { formatAddress } from '../config/address.ts';
import type { ListenAddress } from '../config/address.ts';
import { ProxyError } from '../errors.ts';

/**
 * The management server, not yet listening (on TCP below, or on a Unix socket in serve.ts).
 * Connections are capped (seed W7: a flood of probes must cost little; the excess is closed by
 * Node at accept, before any parsing) and idle ones time out quickly: probes and scrapes need
 * neither.
 */
export function createHealthServer(app: Express, maxConnections: number): http.Server {
  const server = http.createServer(
    { keepAliveTimeout: 5_000, headersTimeout: 5_000, requestTimeout: 10_000 },
    app,
  );
  server.maxConnections = maxConnections;
  return server;
}

/** Serves the management app on TCP. */
export async function listenHealth(
  app: Express,
  address: ListenAddress,
  maxConnections: number,
): Promise<{ server: http.Server; bound: string }> {
  const server = createHealthServer(app, maxConnections);
  server.listen({ host: address.host, port: address.port });
  try {
    await once(server, 'listening');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const text = formatAddress(address.host, address.port);
    throw new ProxyError('ERR_LISTEN', `cannot listen on ${text} (health): ${code}`, {
      cause: err,
    });
  }
  const bound = server.address() as AddressInfo;
  return { server, bound: formatAddress(bound.address, bound.port) };
}

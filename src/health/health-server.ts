import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { formatAddress } from '../config/address.ts';
import type { ListenAddress } from '../config/address.ts';
import { ProxyError } from '../errors.ts';

/**
 * Serves the management app on TCP. Connections are capped (seed W7: a flood of probes must
 * cost little) and idle ones time out quickly: probes and scrapes need neither.
 */
export async function listenHealth(
  app: Express,
  address: ListenAddress,
  maxConnections: number,
): Promise<{ server: http.Server; bound: string }> {
  const server = http.createServer(
    { keepAliveTimeout: 5_000, headersTimeout: 5_000, requestTimeout: 10_000 },
    app,
  );
  server.maxConnections = maxConnections;
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

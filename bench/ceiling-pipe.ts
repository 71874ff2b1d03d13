/**
 * A ceiling, not a target: "bytes piped per connection". For each client connection it opens
 * one connection to the upstream and pipes bytes both ways, with no HTTP at all (no parsing,
 * no routing, no pooling). No Node proxy that reads HTTP can beat it; its ratio to nginx says
 * what the kernel and libuv leave for the HTTP layer on this machine. Never a product path.
 *
 * `node bench/ceiling-pipe.ts UPSTREAM_URL` prints `{"port":N}` once ready.
 */
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

const upstream = new URL(process.argv[2] ?? '');
const upstreamPort = Number(upstream.port);

const server = createServer({ noDelay: true }, (client: Socket) => {
  const origin = connect({ host: upstream.hostname, port: upstreamPort, noDelay: true });
  // pipe() gives backpressure both ways; an error or close on either side ends the other.
  client.pipe(origin).pipe(client);
  const end = () => {
    client.destroy();
    origin.destroy();
  };
  client.on('error', end).on('close', end);
  origin.on('error', end).on('close', end);
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));

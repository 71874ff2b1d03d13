import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small upstream for the example: answers every request with what it received, so a curl
 * through the proxy shows the path, the routing and the forwarded headers.
 */
export function createDemoUpstream(name: string): http.Server {
  return http.createServer((req, res) => {
    const body = JSON.stringify(
      {
        upstream: name,
        method: req.method,
        url: req.url,
        host: req.headers.host,
        'x-forwarded-for': req.headers['x-forwarded-for'],
        'x-forwarded-proto': req.headers['x-forwarded-proto'],
        'x-forwarded-host': req.headers['x-forwarded-host'],
      },
      null,
      2,
    );
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${body}\n`);
  });
}

export async function listenDemoUpstream(name: string, port: number): Promise<http.Server> {
  const server = createDemoUpstream(name);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`127.0.0.1:${port} is in use: is another "npm start" still running?`)
          : err,
      ),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  process.stdout.write(`demo upstream "${name}" listening on 127.0.0.1:${bound}\n`);
  return server;
}

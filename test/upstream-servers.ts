import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type http from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { freePort } from '../bench/free-port.ts';
import { startUpstream } from './helpers.ts';
import type { Upstream } from './helpers.ts';

/** An upstream that counts what it served: requests by path, and the sockets they came on. */
export interface CountingUpstream extends Upstream {
  /** Requests served so far (health probes excluded). */
  served(): number;
  /** Requests per client socket (its remote port), health probes excluded. */
  perSocket(): Map<number, number>;
  /** Health probes answered so far. */
  probes(): number;
  /** What `/healthz` answers from now on. */
  setHealth(status: number): void;
  reset(): void;
}

export async function startCounting(
  name: string,
  handle?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
): Promise<CountingUpstream> {
  let served = 0;
  let probes = 0;
  let health = 200;
  let sockets = new Map<number, number>();
  const up = await startUpstream(name, (req, res) => {
    if (req.url === '/healthz') {
      probes++;
      res.writeHead(health).end(`${name} health ${health}`);
      return;
    }
    served++;
    const port = req.socket.remotePort ?? 0;
    sockets.set(port, (sockets.get(port) ?? 0) + 1);
    if (handle?.(req, res) === true) return;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${name} ${req.method} ${req.url}`);
  });
  return {
    ...up,
    served: () => served,
    perSocket: () => sockets,
    probes: () => probes,
    setHealth: (status) => (health = status),
    reset: () => {
      served = 0;
      sockets = new Map();
    },
  };
}

/** A port nothing listens on: bound once to learn a free number, then closed (freePort). */
export const closedPort = freePort;

/**
 * A listening socket that never accepts, with its accept queue already full: the kernel drops
 * further SYNs, so a connect to it hangs until the connecting side gives up (a connect
 * timeout, on loopback). A child process listens with backlog 1 and then sleeps its thread
 * (Atomics.wait: no CPU); this process fills the queue with connections it holds.
 */
export async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         console.log(s.address().port);
         setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000), 50);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (child.stdout === null) throw new Error('no stdout');
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  await new Promise((resolve) => setTimeout(resolve, 200));
  const held: Socket[] = [];
  // Two fill a backlog of 1 (the kernel allows backlog + 1); more are harmless.
  for (let i = 0; i < 4; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    held.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  return {
    port,
    close: async () => {
      for (const socket of held) socket.destroy();
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}

/** GETs `count` times through `agent` with at most `concurrency` in flight; statuses in order. */
export async function load(
  send: () => Promise<number>,
  count: number,
  concurrency: number,
): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      statuses.push(await send().catch(() => 0));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

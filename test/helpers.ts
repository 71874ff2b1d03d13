import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watchJsonLog } from './json-log.ts';
import type { JsonLog, LogLine } from './json-log.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'src', 'cli.ts');

/** A temporary directory removed by the returned cleanup. */
export async function tmpDir(
  prefix = 'rp-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface Upstream {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  close(): Promise<void>;
}

/**
 * A real upstream on 127.0.0.1:0. The default handler answers `<name> <method> <url>` as text,
 * which is what most tests check to know which upstream served them.
 */
export async function startUpstream(
  name: string,
  handler?: http.RequestListener,
): Promise<Upstream> {
  const server = http.createServer(
    handler ??
      ((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${name} ${req.method} ${req.url}`);
      }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A config with listeners and health on port 0, and the given sites. `admin` is the body of the
 * admin section; by default the socket is disabled.
 */
export function configYaml(sites: string, extra = '', admin = "  socket: ''"): string {
  return `listeners:
  - address: 127.0.0.1:0
admin:
${admin}
health:
  address: 127.0.0.1:0
${extra}
sites:
${sites}`;
}

export function site(name: string, hosts: string[], routes: [string, string][]): string {
  const routeLines = routes
    .map(([path, upstream]) => `      - path: ${path}\n        upstream: ${upstream}`)
    .join('\n');
  return `  - name: ${name}\n    hosts: [${hosts.map((h) => JSON.stringify(h)).join(', ')}]\n    routes:\n${routeLines}\n`;
}

export type { LogLine } from './json-log.ts';

export interface ProxyProcess extends JsonLog {
  readonly child: ChildProcess;
  readonly url: string;
  readonly healthUrl: string;
  readonly port: number;
  /** Sends SIGHUP and waits for the reload's outcome line. */
  reload(): Promise<LogLine>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Spawns `reverse-proxy serve` as a real process and waits until it says it started. */
export async function startProxy(
  configPath: string,
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<ProxyProcess> {
  // One process unless the test asks for workers (test/integration/workers.test.ts tests the
  // worker layout itself); TEST_WORKERS=2 runs every other proxy on two workers (.ci/run does).
  const workers = args.some((a) => a.startsWith('--workers'))
    ? []
    : ['--workers', process.env.TEST_WORKERS ?? '1'];
  const child = spawn(process.execPath, [CLI, 'serve', '-c', configPath, ...workers, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  const { logs, stderr, waitForLog } = watchJsonLog(child, 'proxy');
  const exited = once(child, 'exit');
  const started = await Promise.race([
    waitForLog((l) => l.msg === 'proxy started'),
    exited.then(([code]) => {
      throw new Error(`proxy exited with ${code} before starting: ${stderr()}`);
    }),
  ]);
  const listener = (started.listeners as string[])[0] as string;
  const port = Number(listener.slice(listener.lastIndexOf(':') + 1));
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    healthUrl: `http://${String(started.health)}`,
    port,
    logs,
    stderr,
    waitForLog,
    reload: async () => {
      const outcome = waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('reload'));
      child.kill('SIGHUP');
      return outcome;
    },
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP request with an explicit Host header, on a fresh connection unless an agent is given. */
export function request(
  url: string,
  options: {
    host?: string;
    method?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: string | Buffer;
    agent?: http.Agent;
    /** Sent as is: unlike a URL, it is not normalised on the client side. */
    rawPath?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        ...(options.rawPath === undefined ? {} : { path: options.rawPath }),
        method: options.method ?? 'GET',
        headers: { ...(options.host ? { host: options.host } : {}), ...options.headers },
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export async function writeConfig(path: string, text: string): Promise<void> {
  // Replace atomically, as operators are told to: a reader never sees half a file.
  await writeFile(`${path}.tmp`, text);
  const { rename } = await import('node:fs/promises');
  await rename(`${path}.tmp`, path);
}

/**
 * Lets the connect() calls Node defers to process.nextTick run, then holds the event loop so
 * the kernel completes every loopback handshake before the loop polls again: the connections
 * just opened then wait in the accept queue all at once, as a burst does under load.
 */
export async function holdLoopWhileHandshaking(): Promise<void> {
  await new Promise((resolve) => process.nextTick(resolve));
  const end = performance.now() + 50;
  while (performance.now() < end);
}

/** Hex SHA-256, as the proxy reports a config's identity (status, logs, sidecar Events). */
export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

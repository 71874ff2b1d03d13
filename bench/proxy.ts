import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shebangNodeFlags } from '../src/node-flags.ts';
import { spawnPinned } from './children.ts';
import { matchingProxySite } from './matching-site.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** src/cli.ts, run through Node's type stripping (`--src`). */
export const SOURCE_CLI = join(ROOT, 'src', 'cli.ts');

/** Host names the benchmark's traffic carries (wrk sends it as the Host header). */
export const BENCH_HOST = 'bench.local';

/**
 * A realistic config: several sites (exact, wildcard, catch-all), routes of several prefix
 * lengths, per-route timeouts, metrics on (always), access log off. `extraSites` pads it to
 * the 10,000-site case; `variant` changes one route's timeout so that each reload is real.
 * `pool` (three upstream URLs) adds two routes to the bench site, for the scenarios of issue 12:
 * `/rr/` over the three, round robin, and `/rules/` with header rules (the same as nginx's in
 * bench/nginx.ts). Without it the config has only keys that predate them (bench/hostile-load.ts).
 */
export function proxyConfig(
  upstreamUrl: string,
  extraSites: number,
  variant = 0,
  tls?: { cert: string; key: string },
  pool: readonly string[] = [],
): string {
  const lines = [
    'listeners:',
    '  - address: 127.0.0.1:0',
    // A second listener, HTTPS with HTTP/2 by ALPN (its default), after the plain one.
    ...(tls === undefined ? [] : ['  - address: 127.0.0.1:0', '    tls: true']),
    ...(tls === undefined
      ? []
      : ['tls:', '  certificates:', `    - cert_file: ${tls.cert}`, `      key_file: ${tls.key}`]),
    'admin:',
    "  socket: ''",
    'health:',
    '  address: 127.0.0.1:0',
    'shutdown:',
    '  grace_period_ms: 1000',
    'log:',
    '  level: info',
    '  access_log: false',
    'sites:',
  ];
  const half = Math.floor(extraSites / 2);
  const padding = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      lines.push(
        `  - name: s${i}`,
        `    hosts: [s${i}.example.com, www.s${i}.example.com]`,
        '    routes:',
        `      - { path: /, upstream: "http://127.0.0.1:${10_000 + (i % 50_000)}" }`,
        `      - { path: /api/v${i % 3}/, upstream: "http://127.0.0.1:${10_000 + (i % 50_000)}/api" }`,
      );
    }
  };
  padding(0, half);
  lines.push(
    '  - name: bench',
    `    hosts: [${BENCH_HOST}, www.${BENCH_HOST}]`,
    '    routes:',
    `      - { path: /, upstream: "${upstreamUrl}", timeout_ms: ${30_000 + variant} }`,
    `      - { path: /api/, upstream: "${upstreamUrl}", timeout_ms: 5000 }`,
    `      - { path: /static/assets/, upstream: "${upstreamUrl}" }`,
    ...(pool.length === 0
      ? []
      : [
          '      - path: /rules/',
          `        upstream: "${upstreamUrl}"`,
          '        request_headers: { set: { X-Env: bench }, remove: [X-Debug] }',
          '        response_headers:',
          '          set: { Strict-Transport-Security: max-age=63072000 }',
          '          remove: [X-Powered-By]',
          // Issue 20: an allow list and a rate limit that never triggers.
          '      - path: /guarded/',
          `        upstream: "${upstreamUrl}"`,
          '        strip_prefix: true',
          '        access: { allow: [127.0.0.0/8] }',
          '        rate_limit: { requests_per_second: 1000000, burst: 10000000, by: client_ip }',
          // Issue 21: compression of the upstream's 64 KB HTML page.
          '      - path: /gzip/',
          `        upstream: "${upstreamUrl}"`,
          '        compress: true',
          '      - path: /rr/',
          '        upstreams:',
          ...pool.map((url) => `          - { url: "${url}" }`),
          '        balance: round_robin',
          // Issue 21: a 20-route site of regexes and header conditions.
          ...matchingProxySite(upstreamUrl),
        ]),
    '  - name: wildcard',
    `    hosts: ["*.${BENCH_HOST}"]`,
    '    routes:',
    `      - { path: /, upstream: "${upstreamUrl}" }`,
  );
  padding(half, extraSites);
  lines.push(
    '  - name: fallback',
    '    hosts: ["*"]',
    '    routes:',
    `      - { path: /health/, upstream: "${upstreamUrl}" }`,
  );
  return `${lines.join('\n')}\n`;
}

export interface ProxyUnderTest {
  readonly child: ChildProcess;
  readonly port: number;
  /** The TLS listener's port, when the config has one (second listener). */
  readonly tlsPort: number | undefined;
  readonly healthUrl: string;
  /** Resolves with the next log line whose msg starts with "reload". */
  nextReload(): Promise<string>;
}

/**
 * Compiles src/ to JavaScript under bench/results/.dist (gitignored; inside the repository so
 * that node_modules resolves), as `npm run build` does for the image. Running the compiled
 * code matters for memory: Node's type stripping alone adds ~18 MB of RSS. A type error
 * elsewhere in the tree does not stop tsc from emitting; the benchmark goes on with a warning.
 */
export function buildProxy(): string {
  const outDir = join(ROOT, 'bench', 'results', '.dist');
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  try {
    execFileSync(tsc, ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir], {
      stdio: 'pipe',
    });
  } catch (err) {
    if (!existsSync(join(outDir, 'cli.js'))) throw err;
    process.stderr.write('[bench] tsc reported errors; benchmarking what it emitted\n');
  }
  return join(outDir, 'cli.js');
}

/** Starts `reverse-proxy serve` (the given cli.js or cli.ts) pinned to `cpu`. */
export async function startProxyUnderTest(
  configPath: string,
  cpu: number | string,
  cli: string,
  serveArgs: readonly string[] = [],
): Promise<ProxyUnderTest> {
  // The flags the installed command runs with (its shebang), then any extra ones to try.
  const extra = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const nodeFlags = [...shebangNodeFlags(cli), ...extra];
  let pending = '';
  const reloadWaiters: ((msg: string) => void)[] = [];
  let onStarted: (line: Record<string, unknown>) => void = () => undefined;
  const started = new Promise<Record<string, unknown>>((resolve) => (onStarted = resolve));
  const child = spawnPinned(
    cpu,
    process.execPath,
    [...nodeFlags, cli, 'serve', '-c', configPath, ...serveArgs],
    (chunk) => {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf('\n')) !== -1) {
        const text = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          continue;
        }
        const msg = String(line.msg);
        if (msg === 'proxy started') onStarted(line);
        else if (msg.startsWith('reload')) reloadWaiters.shift()?.(msg);
      }
    },
  );
  const line = await Promise.race([
    started,
    once(child, 'exit').then(([code]) => {
      throw new Error(`proxy exited with ${code} before starting`);
    }),
  ]);
  const listeners = line.listeners as string[];
  const portOf = (listener: string) => Number(listener.slice(listener.lastIndexOf(':') + 1));
  return {
    child,
    port: portOf(listeners[0] as string),
    tlsPort: listeners[1] === undefined ? undefined : portOf(listeners[1]),
    healthUrl: `http://${String(line.health)}`,
    nextReload: () => new Promise((resolve) => reloadWaiters.push(resolve)),
  };
}

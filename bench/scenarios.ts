/**
 * The systems under load: nginx as the reference proxy, this proxy on two configs, the Node
 * floor (bench/node-floor.ts: node:http + undici with no proxy logic at all), and two ceilings,
 * prototypes that show how far a Node proxy could go (not targets, not products):
 * `pipe` (bench/ceiling-pipe.ts: bytes piped per connection, no HTTP at all) and `llhttp`
 * (bench/ceiling-llhttp.ts: a minimal proxy on Node's llhttp binding on both sides).
 * `nginx2w` and `proxy2w` (issue 18): two workers each (`worker_processes 2`, `workers: 2`),
 * on both CPUs, which the load generator shares with them.
 */
import { MATCH_HEADER, MATCH_HOST, MATCH_PATH } from './matching-site.ts';

export type SystemId =
  'nginx' | 'proxy' | 'proxy10k' | 'floor' | 'pipe' | 'llhttp' | 'nginx2w' | 'proxy2w';

/** The ceilings: plain HTTP/1.1 only (no TLS, no HTTP/2), no routing, no header rules. */
export const CEILINGS: readonly SystemId[] = ['pipe', 'llhttp'];

export interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly path: string;
  readonly connections: number;
  readonly post1m?: boolean;
  /**
   * How the load reaches the system's TLS listener (same ECDSA P-256 certificate for both):
   * `tls` HTTP/1.1 keep-alive (wrk on https), `tls-new` one request per connection (wrk with
   * `Connection: close`, so a full handshake each), `h2` HTTP/2 by ALPN (h2load). None: plain HTTP.
   */
  readonly transport?: 'tls' | 'tls-new' | 'h2';
  /** h2: concurrent streams on each connection. */
  readonly streams?: number;
  /** The Host wrk sends (plain HTTP only; default: bench/proxy.ts's BENCH_HOST). */
  readonly host?: string;
  /** More request headers wrk sends (plain HTTP only), such as one a header rule removes. */
  readonly headers?: readonly string[];
  readonly systems: readonly SystemId[];
  /** The system the ratios of this scenario are to (default: nginx). */
  readonly reference?: SystemId;
}

/** Every scenario runs each of its systems once per round, in turn (A B A B ...). */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'get2k',
    title: '2 KB GET, 64 conns',
    path: '/2k',
    connections: 64,
    systems: ['nginx', 'proxy', 'proxy10k', 'floor', ...CEILINGS],
  },
  {
    // Issue 12: a route over three upstreams (three ports of the upstream nginx), round robin;
    // nginx with the same three in one `upstream` block.
    id: 'rr3',
    title: '2 KB GET, 3 upstreams round robin, 64 conns',
    path: '/rr/2k',
    connections: 64,
    systems: ['nginx', 'proxy'],
  },
  {
    // Issue 12: header rules both ways (set X-Env and remove X-Debug on the request, which wrk
    // sends; set Strict-Transport-Security and remove the upstream's X-Powered-By on the response).
    id: 'rules',
    title: '2 KB GET, header rules, 64 conns',
    path: '/rules/2k',
    connections: 64,
    headers: ['X-Debug: 1'],
    systems: ['nginx', 'proxy'],
  },
  {
    // Issue 20: the same GET through an allow list and a rate limit that never triggers; its
    // target is the plain 2 KB GET of the same run (within 5%).
    id: 'guarded',
    title: '2 KB GET, allow list + rate limit (never triggers), 64 conns',
    path: '/guarded/2k',
    connections: 64,
    systems: ['nginx', 'proxy'],
  },
  {
    // Issue 21: a 20-route site of regexes and header conditions, the matching route last
    // (bench/matching-site.ts); its target is the plain 2 KB GET of the same run (within 10%).
    id: 'matched',
    title: '2 KB GET, 20 regex + header routes, the last matches, 64 conns',
    path: MATCH_PATH,
    host: MATCH_HOST,
    connections: 64,
    headers: [MATCH_HEADER],
    systems: ['nginx', 'proxy'],
  },
  {
    id: 'get64k',
    title: '64 KB GET, 64 conns',
    path: '/64k',
    connections: 64,
    systems: ['nginx', 'proxy', ...CEILINGS],
  },
  {
    // Issue 21: a 64 KB HTML page (bench/html-body.ts) compressed on the way, the clients
    // asking for gzip: the proxy's `compress: true` (gzip level 5) against nginx's `gzip on`
    // with gzip_comp_level 5, the same upstream, in the same rounds.
    id: 'gzip64k',
    title: '64 KB HTML, gzip level 5 (Accept-Encoding: gzip), 64 conns',
    path: '/gzip/page.html',
    connections: 64,
    headers: ['Accept-Encoding: gzip'],
    systems: ['nginx', 'proxy'],
  },
  {
    id: 'post1m',
    title: '1 MB POST streamed, 16 conns',
    path: '/sink',
    connections: 16,
    post1m: true,
    systems: ['nginx', 'proxy', ...CEILINGS],
  },
  {
    id: 'c1',
    title: '2 KB GET, 1 conn',
    path: '/2k',
    connections: 1,
    systems: ['nginx', 'proxy', ...CEILINGS],
  },
  {
    id: 'c256',
    title: '2 KB GET, 256 conns',
    path: '/2k',
    connections: 256,
    systems: ['nginx', 'proxy'],
  },
  {
    id: 'tls2k',
    title: 'TLS 2 KB GET, keep-alive, 64 conns',
    path: '/2k',
    connections: 64,
    transport: 'tls',
    systems: ['nginx', 'proxy', 'floor'],
  },
  {
    id: 'tlsnew',
    title: 'new TLS connection per request, 16 conns',
    path: '/2k',
    connections: 16,
    transport: 'tls-new',
    systems: ['nginx', 'proxy'],
  },
  {
    id: 'h2',
    title: 'HTTP/2 2 KB GET, 16 conns x 8 streams',
    path: '/2k',
    connections: 16,
    streams: 8,
    transport: 'h2',
    systems: ['nginx', 'proxy', 'floor'],
  },
  {
    // Issue 18: two workers against nginx's two, on the same two CPUs, with wrk and the
    // upstream on CPU 0 too: a ratio in one run, not a scaling figure.
    id: 'get2k2w',
    title: '2 KB GET, 64 conns, 2 workers each (both CPUs, shared with the load)',
    path: '/2k',
    connections: 64,
    systems: ['nginx2w', 'proxy2w'],
    reference: 'nginx2w',
  },
];

/** How long each mode runs: rounds x scenarios x systems x seconds, plus reloads and a soak. */
export interface ModeSettings {
  readonly rounds: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly sites: number;
  readonly reloadSeconds: number;
  readonly soakReloads: number;
  /** Idle keep-alive connections held on the proxy and on nginx (issue 17: 10,000). */
  readonly idleConnections: number;
}

export const MODES: Record<'smoke' | 'quick' | 'full', ModeSettings> = {
  // Keeps the benchmark working in CI: every moving part once, numbers meaningless.
  smoke: {
    rounds: 1,
    seconds: 1,
    warmupSeconds: 1,
    sites: 1_000,
    reloadSeconds: 2,
    soakReloads: 20,
    idleConnections: 500,
  },
  quick: {
    rounds: 3,
    seconds: 2,
    warmupSeconds: 2,
    sites: 10_000,
    reloadSeconds: 4,
    soakReloads: 100,
    idleConnections: 2_000,
  },
  full: {
    rounds: 5,
    seconds: 8,
    warmupSeconds: 5,
    sites: 10_000,
    reloadSeconds: 20,
    soakReloads: 1_000,
    idleConnections: 10_000,
  },
};

import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnPinned } from './children.ts';
import { matchingNginxServer } from './matching-site.ts';
import { htmlBody } from './html-body.ts';
import { waitForPort } from './wait-for-port.ts';

/** Paths every nginx needs writable, kept inside the benchmark's temp directory. */
function preamble(dir: string): string {
  // As root, workers would switch to `nobody`, who cannot read a 0700 temp directory.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
`;
}

function tempPaths(dir: string): string {
  return `client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;`;
}

/**
 * The upstream: fixed 2 KB and 64 KB bodies, and a POST sink. The sink reads the whole body
 * before it answers (request buffering on, then an internal hop to /ok that drops the body),
 * so every proxy really streams the full megabyte upstream.
 *
 * `poolPorts`: the ports of the 3-upstream scenario's pool (`port` may be one of them); the
 * same server (same root, same worker) listens on each, so there are three real upstreams. Its file is `/rr/2k`, answered with an
 * `X-Upstream-Port` header that says which of them served it. The header-rules scenario's
 * file is `/rules/2k`, answered with an `X-Powered-By` header for the proxies to remove.
 * The compression scenario's is `/gzip/page.html`, 64 KB of text/html, sent as it is.
 */
export async function upstreamConfig(
  dir: string,
  port: number,
  poolPorts: readonly number[] = [],
): Promise<string> {
  for (const sub of ['', 'rr', 'rules', 'gzip']) {
    await mkdir(join(dir, 'www', sub), { recursive: true });
  }
  await writeFile(join(dir, 'www', 'gzip', 'page.html'), htmlBody());
  await writeFile(join(dir, 'www', '2k'), 'a'.repeat(2048));
  await writeFile(join(dir, 'www', 'rr', '2k'), 'a'.repeat(2048));
  await writeFile(join(dir, 'www', 'rules', '2k'), 'a'.repeat(2048));
  await writeFile(join(dir, 'www', '64k'), 'b'.repeat(64 * 1024));
  const listens = [...new Set([port, ...poolPorts])]
    .map((p) => `listen 127.0.0.1:${p} backlog=4096;`)
    .join('\n    ');
  return `${preamble(dir)}
http {
  ${tempPaths(dir)}
  default_type application/octet-stream;
  sendfile on;
  upstream self { server 127.0.0.1:${port}; keepalive 64; }
  server {
    ${listens}
    root ${dir}/www;
    location /rr/ { add_header X-Upstream-Port $server_port; }
    location /rules/ { add_header X-Powered-By bench-upstream; }
    location /gzip/ { default_type text/html; }
    client_max_body_size 4m;
    client_body_buffer_size 2m;
    location = /ok { return 200 "ok\\n"; }
    location = /sink {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_method GET;
      proxy_pass http://self/ok;
    }
  }
}
`;
}

/**
 * nginx as the reference proxy: one worker, upstream keep-alive sized to the largest
 * connection count in the benchmark (256), HTTP/1.1 upstream, bodies streamed both ways.
 *
 * `poolPorts` (the upstream's pool): `location /rr/` goes to `upstream backend3` with the
 * three of them (nginx's default balancing, round robin). `location /rules/` applies the same
 * header rules as the proxy's `/rules/` route.
 */
export function referenceConfig(
  dir: string,
  port: number,
  upstreamPort: number,
  tls?: { port: number; cert: string; key: string },
  poolPorts: readonly number[] = [],
): string {
  const location = (prefix: string, backend: string, extra: readonly string[] = []) =>
    [
      `location ${prefix} {`,
      `      proxy_pass http://${backend};`,
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '      proxy_set_header Host $host;',
      '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      '      proxy_set_header X-Forwarded-Proto $scheme;',
      '      proxy_set_header X-Forwarded-Host $host;',
      '      proxy_request_buffering off;',
      '      proxy_read_timeout 30s;',
      ...extra.map((line) => `      ${line}`),
      '    }',
    ].join('\n');
  const root = location('/', 'backend');
  // The header rules of bench/proxy.ts's /rules/ route: request set X-Env and remove X-Debug
  // (an empty value is how nginx drops a header), response set Strict-Transport-Security and
  // remove X-Powered-By.
  const rules = location('/rules/', 'backend', [
    'proxy_set_header X-Env bench;',
    'proxy_set_header X-Debug "";',
    'proxy_hide_header X-Powered-By;',
    'add_header Strict-Transport-Security "max-age=63072000" always;',
  ]);
  const pool = poolPorts.length === 0 ? '' : `\n    ${location('/rr/', 'backend3')}`;
  // Issue 21: the proxy's `compress: true` as nginx says it: text/html (gzip_types' default),
  // the proxy's gzip level and minimum length, Vary added.
  const gzip =
    poolPorts.length === 0
      ? ''
      : `\n    ${location('/gzip/', 'backend', [
          'gzip on;',
          'gzip_comp_level 5;',
          'gzip_min_length 1024;',
          'gzip_vary on;',
        ])}`;
  // Issue 20: an allow list and a rate limit that never triggers, as bench/proxy.ts's /guarded/
  // (the trailing slash of proxy_pass strips the prefix, as the proxy's strip_prefix does).
  const guarded =
    poolPorts.length === 0
      ? ''
      : `\n    location /guarded/ {
      allow 127.0.0.0/8;
      deny all;
      limit_req zone=bench burst=10000000 nodelay;
      proxy_pass http://backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_request_buffering off;
    }`;
  const backend3 =
    poolPorts.length === 0
      ? ''
      : `
  upstream backend3 {
    ${poolPorts.map((p) => `server 127.0.0.1:${p};`).join(' ')}
    keepalive 256; keepalive_requests 1000000;
  }`;
  // TLS: the proxy's defaults (TLS 1.2 minimum), nginx's own session settings (tickets on, no
  // shared cache); HTTP/2 by ALPN on the same port, as the proxy's TLS listener does.
  const https =
    tls === undefined
      ? ''
      : `
  server {
    listen 127.0.0.1:${tls.port} ssl http2 backlog=4096;
    server_name bench.local;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 4m;
    ${root}
  }`;
  return `${preamble(dir)}
http {
  ${tempPaths(dir)}
  upstream backend { server 127.0.0.1:${upstreamPort}; keepalive 256; keepalive_requests 1000000; }${backend3}
  limit_req_zone $binary_remote_addr zone=bench:10m rate=1000000r/s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    server_name bench.local;
    client_max_body_size 4m;
    ${root}
    ${rules}${pool}${guarded}${gzip}
  }${poolPorts.length === 0 ? '' : matchingNginxServer(port)}${https}
}
`;
}

/**
 * One of the configs above given room for many connections: `workerConnections` (nginx counts
 * client and upstream connections alike) and the worker's open-files limit.
 */
export function withRoom(config: string, workerConnections: number, nofile: number): string {
  const events = 'events { worker_connections 4096; }';
  if (!config.includes(events)) throw new Error('the events block changed: update withRoom()');
  return config.replace(
    events,
    `worker_rlimit_nofile ${nofile};\nevents { worker_connections ${workerConnections}; }`,
  );
}

/** Writes the config and starts `nginx -g 'daemon off;'` pinned to `cpu`, ready to accept. */
export async function startNginx(
  nginx: string,
  dir: string,
  config: string,
  port: number,
  cpu: number | string,
): Promise<ChildProcess> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'nginx.conf');
  await writeFile(file, config);
  const child = spawnPinned(cpu, nginx, ['-p', dir, '-c', file, '-g', 'daemon off;']);
  await waitForPort(port, child);
  return child;
}

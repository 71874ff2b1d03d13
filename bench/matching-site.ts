/**
 * Issue 21's matching scenario: a 20-route site where the route that matches is the last one
 * tried. Nine regex routes with other patterns, then eleven with the same pattern and the
 * same number of conditions (a method list and a header), so that file order decides and the
 * winner, last in the file, is reached after ten header checks on a path the regex matched.
 * Each rewrites to the upstream's /2k. nginx gets the nearest it has: nineteen regex locations
 * before the one that matches, which checks the header with `if`.
 */
export const MATCH_HOST = 'match.bench.local';

/** The request the scenario sends: GET MATCH_PATH with MATCH_HEADER, Host MATCH_HOST. */
export const MATCH_PATH = '/m/12345/2k';
export const MATCH_HEADER = 'X-Tenant: gold';

/** The site's lines for bench/proxy.ts's config (under `sites:`). */
export function matchingProxySite(upstreamUrl: string): string[] {
  const route = (pattern: string, tenant: string) => [
    `      - path: '${pattern}'`,
    '        path_match: regex',
    '        methods: [GET, HEAD]',
    `        headers: { X-Tenant: ${tenant} }`,
    "        rewrite: { path: '/2k' }",
    `        upstream: "${upstreamUrl}"`,
  ];
  const lines = ['  - name: matching', `    hosts: [${MATCH_HOST}]`, '    routes:'];
  for (let i = 1; i <= 9; i++) lines.push(...route(`^/m/([0-9]+)/v${i}$`, `t${i}`));
  for (let i = 10; i <= 19; i++) lines.push(...route('^/m/([0-9]+)/2k$', `t${i}`));
  lines.push(...route('^/m/([0-9]+)/2k$', 'gold'));
  return lines;
}

/** A server block for bench/nginx.ts's reference config, on the same port. */
export function matchingNginxServer(port: number): string {
  const proxied = [
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_set_header X-Forwarded-Host $host;',
    'rewrite ^ /2k break;',
    'proxy_pass http://backend;',
  ].join(' ');
  const locations: string[] = [];
  for (let i = 1; i <= 19; i++) {
    locations.push(`location ~ ^/m/([0-9]+)/v${i}$ { ${proxied} }`);
  }
  locations.push(
    `location ~ ^/m/([0-9]+)/2k$ { if ($http_x_tenant != "gold") { return 404; } ${proxied} }`,
  );
  return `
  server {
    listen 127.0.0.1:${port};
    server_name ${MATCH_HOST};
    ${locations.join('\n    ')}
  }`;
}

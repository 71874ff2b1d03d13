import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSync } from 'bcryptjs';
import { ok, rawExchange, sendFrom, startRecordingUpstream } from '../raw-http.ts';
import { makeCertificate } from '../certs.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import { CLI, request, startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess, Reply } from '../helpers.ts';
import { closedPort } from '../upstream-servers.ts';

const APP = 'https://app.example.com';
const CORS_HEADERS = (reply: Reply) =>
  Object.keys(reply.headers).filter((name) => name.startsWith('access-control-'));

/** An upstream that answers with its own CORS headers, which the proxy must replace. */
const OWN_CORS =
  'HTTP/1.1 200 OK\r\ncontent-length: 2\r\naccess-control-allow-origin: *\r\n' +
  'access-control-allow-methods: DELETE\r\naccess-control-expose-headers: X-Secret\r\n' +
  'vary: Accept-Encoding\r\n\r\nok';

/**
 * Issue 21: `cors` on a route. Preflights are answered by the proxy (the recording upstream
 * must never see them), allowed origins are echoed with Vary: Origin, credentials and max age;
 * other origins get no CORS header; the upstream's own CORS headers are replaced.
 */
describe('cors', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: RecordingUpstream;
  let proxy: ProxyProcess;
  let tlsPort: number;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    const cert = makeCertificate(dir, 'app', ['app.test']);
    up = await startRecordingUpstream((r) => (r.target.endsWith('/own') ? OWN_CORS : ok()));
    const users = join(dir, 'htpasswd');
    await writeConfig(users, `alice:$2y$${hashSync('secret', 5).slice(4)}\n`);
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
    tls: true
tls:
  certificates:
    - { cert_file: ${cert.certFile}, key_file: ${cert.keyFile} }
admin:
  socket: ''
health:
  address: 127.0.0.1:0
log:
  access_log: true
sites:
  - name: app
    hosts: [app.test]
    routes:
      - path: /api/
        upstream: "${up.url}"
        cors:
          allow_origins: [${APP}, "http://localhost:5173"]
          allow_methods: [GET, POST, PUT]
          allow_headers: [Authorization, Content-Type]
          expose_headers: [X-Total]
          allow_credentials: true
          max_age_s: 600
      - path: /public/
        upstream: "${up.url}"
        cors: { allow_origins: ["*"] }
      - path: /private/
        upstream: "${up.url}"
        access:
          deny: [127.0.0.3/32]
          basic_auth: { realm: app, htpasswd_file: ${users} }
        cors: { allow_origins: [${APP}], allow_credentials: true }
      - path: /down/
        upstream: "http://127.0.0.1:${await closedPort()}"
        cors: { allow_origins: [${APP}] }
      - path: /limited/
        upstream: "${up.url}"
        rate_limit: { requests_per_second: 0.01, burst: 1 }
        cors: { allow_origins: [${APP}] }
      - { path: /, upstream: "${up.url}" }
`,
    );
    proxy = await startProxy(path);
    const started = proxy.logs.find((l) => l.msg === 'proxy started');
    const tls = String((started?.listeners as string[])[1]);
    tlsPort = Number(tls.slice(tls.lastIndexOf(':') + 1));
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  const send = (
    path: string,
    method: string,
    headers: Record<string, string> = {},
    body?: string,
  ) =>
    request(`${proxy.url}${path}`, {
      host: 'app.test',
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
  const preflight = (path: string, origin: string, extra: Record<string, string> = {}) =>
    send(path, 'OPTIONS', {
      origin,
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'authorization, content-type',
      ...extra,
    });

  it('answers an allowed preflight itself: 204, the origin echoed, lists, credentials, max age', async () => {
    const seen = up.requests.length;
    const reply = await preflight('/api/items', APP);
    assert.equal(reply.status, 204);
    assert.equal(reply.body, '');
    assert.equal(reply.headers['access-control-allow-origin'], APP);
    assert.equal(reply.headers['access-control-allow-methods'], 'GET, POST, PUT');
    assert.equal(reply.headers['access-control-allow-headers'], 'Authorization, Content-Type');
    assert.equal(reply.headers['access-control-allow-credentials'], 'true');
    assert.equal(reply.headers['access-control-max-age'], '600');
    assert.equal(
      reply.headers.vary,
      'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    );
    assert.equal(reply.headers['access-control-expose-headers'], undefined, 'not on preflights');
    assert.equal(up.requests.length, seen, 'the upstream was not contacted');
    const id = String(reply.headers['x-request-id']);
    const line = await proxy.waitForLog((l) => l.access === true && l.request_id === id, {
      includePast: true,
      timeoutMs: 5_000,
    });
    assert.equal(line.status, 204);
    assert.equal(line.reason, 'cors_preflight');
    assert.equal(line.route, '/api/');
  });

  it('matches the origin without regard to case, and echoes it as sent', async () => {
    const reply = await preflight('/api/items', 'HTTPS://App.Example.COM');
    assert.equal(reply.headers['access-control-allow-origin'], 'HTTPS://App.Example.COM');
    const other = await preflight('/api/items', 'http://localhost:5173');
    assert.equal(other.headers['access-control-allow-origin'], 'http://localhost:5173');
  });

  it('answers a preflight from another origin with 204 and no CORS header, upstream untouched', async () => {
    const seen = up.requests.length;
    for (const origin of [
      'https://evil.example',
      'https://app.example.com.evil.example',
      'http://app.example.com', // another scheme is another origin
      'https://app.example.com:8443',
      'null',
    ]) {
      const reply = await preflight('/api/items', origin);
      assert.equal(reply.status, 204, origin);
      assert.deepEqual(CORS_HEADERS(reply), [], origin);
      assert.match(String(reply.headers.vary), /^Origin\b/, origin);
    }
    assert.equal(up.requests.length, seen, 'the upstream was not contacted');
  });

  it('forwards an OPTIONS that is not a preflight (no Access-Control-Request-Method)', async () => {
    const seen = up.requests.length;
    const reply = await send('/api/items', 'OPTIONS', { origin: APP });
    assert.equal(reply.status, 200);
    assert.equal(up.requests.length, seen + 1);
    assert.equal(up.requests[seen]?.method, 'OPTIONS');
    assert.equal(reply.headers['access-control-allow-origin'], APP, 'an actual request');
    const plain = await send('/api/items', 'OPTIONS');
    assert.equal(plain.status, 200);
    assert.equal(up.requests.length, seen + 2);
  });

  it('adds the CORS headers to a simple GET and POST from an allowed origin', async () => {
    const get = await send('/api/items', 'GET', { origin: APP });
    assert.equal(get.status, 200);
    assert.equal(get.headers['access-control-allow-origin'], APP);
    assert.equal(get.headers['access-control-allow-credentials'], 'true');
    assert.equal(get.headers['access-control-expose-headers'], 'X-Total');
    assert.equal(get.headers['access-control-allow-methods'], undefined, 'preflight only');
    assert.equal(get.headers.vary, 'Origin');
    const seen = up.requests.length;
    const post = await send(
      '/api/items',
      'POST',
      { origin: APP, 'content-type': 'text/plain' },
      'hi',
    );
    assert.equal(post.status, 200);
    assert.equal(post.headers['access-control-allow-origin'], APP);
    assert.equal(up.requests[seen]?.body.toString(), 'hi', 'the POST went upstream');
    assert.equal(up.requests[seen]?.header('origin'), APP, 'Origin is passed on');
  });

  it('gives another origin, or none, the answer without CORS headers but with Vary: Origin', async () => {
    const origins: Record<string, string>[] = [{ origin: 'https://evil.example' }, {}];
    for (const headers of origins) {
      const reply = await send('/api/items', 'GET', headers);
      assert.equal(reply.status, 200);
      assert.equal(reply.body, 'ok');
      assert.deepEqual(CORS_HEADERS(reply), []);
      assert.equal(reply.headers.vary, 'Origin', 'a cache must not give it to another origin');
    }
  });

  it("replaces the upstream's own CORS headers, for allowed and other origins alike", async () => {
    const allowed = await send('/api/own', 'GET', { origin: APP });
    assert.equal(allowed.headers['access-control-allow-origin'], APP, 'not "*"');
    assert.equal(allowed.headers['access-control-allow-methods'], undefined);
    assert.equal(allowed.headers['access-control-expose-headers'], 'X-Total');
    assert.equal(allowed.headers.vary, 'Accept-Encoding, Origin', 'merged, not replaced');
    const other = await send('/api/own', 'GET', { origin: 'https://evil.example' });
    assert.deepEqual(CORS_HEADERS(other), [], "the upstream's * must not widen the list");
    // A route without cors passes the upstream's headers as they are.
    const plain = await send('/own', 'GET', { origin: 'https://evil.example' });
    assert.equal(plain.headers['access-control-allow-origin'], '*');
  });

  it('sends "*" on a route that allows every origin, with no credentials', async () => {
    const reply = await preflight('/public/x', 'https://anyone.example');
    assert.equal(reply.status, 204);
    assert.equal(reply.headers['access-control-allow-origin'], '*');
    assert.equal(reply.headers['access-control-allow-methods'], 'GET, HEAD, POST', 'the default');
    assert.equal(reply.headers['access-control-allow-credentials'], undefined);
    assert.equal(reply.headers['access-control-max-age'], undefined, 'none configured');
    const get = await send('/public/x', 'GET', { origin: 'https://anyone.example' });
    assert.equal(get.headers['access-control-allow-origin'], '*');
    assert.equal(get.headers.vary, undefined, 'the answer does not depend on Origin');
  });

  it('answers a preflight on a basic_auth route without credentials; the access list still holds', async () => {
    const seen = up.requests.length;
    const reply = await preflight('/private/x', APP);
    assert.equal(reply.status, 204, 'a browser never sends credentials on a preflight');
    assert.equal(reply.headers['access-control-allow-origin'], APP);
    assert.equal(reply.headers['access-control-allow-credentials'], 'true');
    assert.equal(up.requests.length, seen);
    // The actual request still needs them; its 401 carries CORS headers so the page can read it.
    const denied = await send('/private/x', 'GET', { origin: APP });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['access-control-allow-origin'], APP);
    assert.equal(denied.headers.vary, 'Origin');
    assert.match(String(denied.headers['www-authenticate']), /^Basic realm="app"/);
    const authorized = await send('/private/x', 'GET', {
      origin: APP,
      authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
    });
    assert.equal(authorized.status, 200);
    assert.equal(authorized.headers['access-control-allow-origin'], APP);
    assert.equal(up.requests.length, seen + 1);
    const fromDenied = await sendFrom(
      proxy.port,
      `OPTIONS /private/x HTTP/1.1\r\nHost: app.test\r\nOrigin: ${APP}\r\n` +
        'Access-Control-Request-Method: PUT\r\nConnection: close\r\n\r\n',
      '127.0.0.3',
    );
    assert.match(fromDenied, /^HTTP\/1\.1 403 /, 'deny applies to preflights');
    assert.equal(up.requests.length, seen + 1);
  });

  it("puts the CORS headers on the proxy's own 502 for an allowed origin", async () => {
    const reply = await send('/down/x', 'GET', { origin: APP });
    assert.equal(reply.status, 502);
    assert.equal(reply.headers['access-control-allow-origin'], APP);
    assert.equal(reply.headers.vary, 'Origin');
    const other = await send('/down/x', 'GET', { origin: 'https://evil.example' });
    assert.equal(other.status, 502);
    assert.deepEqual(CORS_HEADERS(other), []);
  });

  it("counts preflights against the route's rate limit", async () => {
    assert.equal((await preflight('/limited/x', APP)).status, 204);
    const limited = await preflight('/limited/x', APP);
    assert.equal(limited.status, 429, 'preflights are no way around a limit');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  });

  it('answers a preflight with a body and serves the next request on the connection', async () => {
    const seen = up.requests.length;
    const reply = await rawExchange(
      proxy.port,
      `OPTIONS /api/x HTTP/1.1\r\nHost: app.test\r\nOrigin: ${APP}\r\n` +
        'Access-Control-Request-Method: PUT\r\nContent-Length: 5\r\n\r\nhello' +
        `GET /api/y HTTP/1.1\r\nHost: app.test\r\nOrigin: ${APP}\r\nConnection: close\r\n\r\n`,
      { expect: 2 },
    );
    assert.deepEqual(reply.statuses, [204, 200]);
    assert.equal(up.requests.length, seen + 1, 'only the GET went upstream');
    assert.equal(up.requests[seen]?.target, '/api/y');
  });

  it('does the same over HTTP/2', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, {
      servername: 'app.test',
      rejectUnauthorized: false,
    });
    const exchange = async (headers: http2.OutgoingHttpHeaders) => {
      const stream = session.request({ ':authority': 'app.test', ...headers });
      stream.end();
      stream.resume();
      // A 204 ends the stream with its headers: listen for the end before awaiting them.
      const ended = once(stream, 'end');
      const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      await ended;
      return response;
    };
    try {
      const seen = up.requests.length;
      const pre = await exchange({
        ':method': 'OPTIONS',
        ':path': '/api/x',
        origin: APP,
        'access-control-request-method': 'PUT',
      });
      assert.equal(pre[':status'], 204);
      assert.equal(pre['access-control-allow-origin'], APP);
      assert.equal(pre['access-control-max-age'], '600');
      assert.equal(up.requests.length, seen);
      const get = await exchange({ ':method': 'GET', ':path': '/api/own', origin: APP });
      assert.equal(get[':status'], 200);
      assert.equal(get['access-control-allow-origin'], APP);
      assert.equal(get.vary, 'Accept-Encoding, Origin');
    } finally {
      session.close();
    }
  });

  it('leaves a route without cors alone: its preflights go upstream', async () => {
    const seen = up.requests.length;
    const reply = await preflight('/other', APP);
    assert.equal(reply.status, 200);
    assert.equal(up.requests.length, seen + 1);
    assert.deepEqual(CORS_HEADERS(reply), []);
  });
});

describe('cors validation', () => {
  const validate = async (cors: string) => {
    const { dir, cleanup } = await tmpDir();
    try {
      const path = join(dir, 'proxy.yaml');
      await writeConfig(
        path,
        `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ''
sites:
  - name: app
    hosts: [app.test]
    routes:
      - { path: /, upstream: "http://127.0.0.1:9" }
      - path: /api/
        upstream: "http://127.0.0.1:9"
        cors: ${cors}
`,
      );
      const result = spawnSync(process.execPath, [CLI, 'validate', '-c', path], {
        encoding: 'utf8',
      });
      return { status: result.status, stderr: result.stderr.replaceAll(`${path}: `, '') };
    } finally {
      await cleanup();
    }
  };

  const cases: [string, string, RegExp][] = [
    [
      'an origin with a path',
      '{ allow_origins: ["https://a.example/app"] }',
      /sites\[0\]\.routes\[1\]\.cors\.allow_origins\[0\]: "https:\/\/a\.example\/app" is not an origin as browsers send it .*write "https:\/\/a\.example"/,
    ],
    [
      'a trailing slash',
      '{ allow_origins: ["https://a.example/"] }',
      /routes\[1\]\.cors\.allow_origins\[0\]: .*write "https:\/\/a\.example"/,
    ],
    [
      'the default port',
      '{ allow_origins: ["https://a.example:443"] }',
      /routes\[1\]\.cors\.allow_origins\[0\]: .*write "https:\/\/a\.example"/,
    ],
    [
      'a bare host',
      '{ allow_origins: ["a.example"] }',
      /routes\[1\]\.cors\.allow_origins\[0\]: "a\.example" is not an origin/,
    ],
    [
      'another scheme',
      '{ allow_origins: ["ftp://a.example"] }',
      /allow_origins\[0\]: "ftp:\/\/a\.example" must be an http\(s\) origin/,
    ],
    [
      'the null origin',
      '{ allow_origins: ["null"] }',
      /allow_origins\[0\]: "null" is never allowed/,
    ],
    [
      'no origins',
      '{ allow_methods: [GET] }',
      /routes\[1\]\.cors\.allow_origins: is required|routes\[1\]\.cors\.allow_origins: .*required/,
    ],
    [
      '"*" with others',
      '{ allow_origins: ["*", "https://a.example"] }',
      /routes\[1\]\.cors: allow_origins: "\*" allows every origin: list it alone/,
    ],
    [
      '"*" with credentials',
      '{ allow_origins: ["*"], allow_credentials: true }',
      /routes\[1\]\.cors: allow_origins: "\*" cannot be used with allow_credentials: true/,
    ],
    [
      'a method that is no token',
      '{ allow_origins: ["https://a.example"], allow_methods: ["GE T"] }',
      /routes\[1\]\.cors\.allow_methods\[0\]: must be a method/,
    ],
    [
      'a header that is no token',
      '{ allow_origins: ["https://a.example"], allow_headers: ["X:Y"] }',
      /routes\[1\]\.cors\.allow_headers\[0\]: must be a header name/,
    ],
    [
      'max_age_s too large',
      '{ allow_origins: ["https://a.example"], max_age_s: 86401 }',
      /routes\[1\]\.cors\.max_age_s: /,
    ],
    [
      'an unknown key',
      '{ allow_origins: ["https://a.example"], allow_origin: [x] }',
      /routes\[1\]\.cors\.allow_origin: /,
    ],
  ];
  for (const [what, cors, expected] of cases) {
    it(`refuses ${what}, naming the route and the key`, async () => {
      const { status, stderr } = await validate(cors);
      assert.equal(status, 1, stderr);
      assert.match(stderr, expected);
    });
  }

  it('accepts the shape of DESIGN.md', async () => {
    const { status, stderr } = await validate(
      '{ allow_origins: [https://app.example.com], allow_methods: [GET, POST], allow_headers: [Authorization], allow_credentials: true, max_age_s: 600 }',
    );
    assert.equal(status, 0, stderr);
  });
});

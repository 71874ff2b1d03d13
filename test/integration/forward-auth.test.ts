import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCertificate } from '../certs.ts';
import { rawExchange, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import { startProxy, tmpDir, writeConfig } from '../helpers.ts';
import { closedPort } from '../upstream-servers.ts';
import type { LogLine, ProxyProcess } from '../helpers.ts';

/** One request the auth service received. */
interface AuthSeen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly bodyBytes: number;
}

type AuthAnswer = (seen: AuthSeen, res: http.ServerResponse) => void;

/** A real auth service (node:http or node:https) whose answer each test chooses. */
async function startAuth(server: http.Server | https.Server) {
  const seen: AuthSeen[] = [];
  let answer: AuthAnswer = (_s, res) => res.writeHead(200).end();
  let connections = 0;
  server.on('connection', () => connections++);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => (bodyBytes += c.length));
    req.on('end', () => {
      const one = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyBytes,
      };
      seen.push(one);
      answer(one, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    seen,
    connections: () => connections,
    answer: (next: AuthAnswer) => (answer = next),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const head = (method: string, path: string, extra: string[] = [], close = true): string =>
  `${method} ${path} HTTP/1.1\r\nHost: a.test\r\n${extra.map((h) => `${h}\r\n`).join('')}${close ? 'Connection: close\r\n' : ''}\r\n`;

const headerOf = (text: string, name: string): string | undefined =>
  new RegExp(`^${name}: (.*)$`, 'im').exec(text.split('\r\n\r\n')[0] ?? '')?.[1];

const bodyOf = (text: string) => text.slice(text.indexOf('\r\n\r\n') + 4);

/**
 * Issue 20, `access.forward_auth`: a real auth service decides every request of a route; the
 * protected upstream is a raw recorder, so a refused request is seen to reach it not at all.
 */
describe('forward auth', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: RecordingUpstream;
  let auth: Awaited<ReturnType<typeof startAuth>>;
  let slow: Awaited<ReturnType<typeof startAuth>>;
  let secure: Awaited<ReturnType<typeof startAuth>>;
  let garbage: RecordingUpstream;
  let ws: http.Server;
  /** The WebSocket handshakes the upstream got, by their headers. */
  const handshakes: http.IncomingHttpHeaders[] = [];
  let proxy: ProxyProcess;
  let tlsPort: number;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    up = await startRecordingUpstream();
    auth = await startAuth(http.createServer());
    slow = await startAuth(http.createServer());
    slow.answer(() => undefined); // never answers
    const pair = makeCertificate(dir, 'auth', ['localhost']);
    const site = makeCertificate(dir, 'a', ['a.test']);
    secure = await startAuth(
      https.createServer({ cert: readFileSync(pair.certFile), key: readFileSync(pair.keyFile) }),
    );
    garbage = await startRecordingUpstream(() => 'HTTP/1.1 abc nonsense\r\n\r\n');
    const dead = await closedPort();
    ws = http.createServer((_req, res) => res.writeHead(500).end());
    ws.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
      handshakes.push(req.headers);
      socket.end(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      );
    });
    ws.listen(0, '127.0.0.1');
    await once(ws, 'listening');
    const wsUrl = `http://127.0.0.1:${(ws.address() as AddressInfo).port}`;
    const path = join(dir, 'proxy.yaml');
    const authBlock = (url: string, timeout = 2000) => `
        access:
          forward_auth:
            url: "${url}"
            timeout_ms: ${timeout}
            request_headers: [Authorization, Cookie]
            response_headers: [X-User, X-Groups]`;
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
    tls: true
tls:
  certificates:
    - { cert_file: ${site.certFile}, key_file: ${site.keyFile} }
admin:
  socket: ''
health:
  address: 127.0.0.1:0
log:
  access_log: true
sites:
  - name: a
    hosts: [a.test]
    routes:
      - path: /
        upstream: "${up.url}"${authBlock(`http://127.0.0.1:${auth.port}/check?from=proxy`)}
      - path: /down/
        upstream: "${up.url}"${authBlock(`http://127.0.0.1:${dead}/check`)}
      - path: /broken/
        upstream: "${up.url}"${authBlock(`${garbage.url}/check`)}
      - path: /slow/
        upstream: "${up.url}"${authBlock(`http://127.0.0.1:${slow.port}/check`, 300)}
      - path: /tls/
        upstream: "${up.url}"${authBlock(`https://localhost:${secure.port}/verify`)}
      - path: /open/
        upstream: "${up.url}"
      - path: /ws/
        upstream: "${wsUrl}"${authBlock(`http://127.0.0.1:${auth.port}/check`)}
      - path: /ws-denied/
        upstream: "${wsUrl}"
        access: { deny: [127.0.0.0/8] }
`,
    );
    // The auth service's certificate is trusted the way an operator trusts a private CA.
    proxy = await startProxy(path, [], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: pair.certFile },
    });
    const started = proxy.logs.find((l) => l.msg === 'proxy started');
    const tls = String((started?.listeners as string[])[1]);
    tlsPort = Number(tls.slice(tls.lastIndexOf(':') + 1));
  });

  after(async () => {
    await proxy.stop();
    ws.closeAllConnections();
    ws.close();
    await Promise.all([up.close(), auth.close(), slow.close(), secure.close(), garbage.close()]);
    await cleanup();
  });

  const metrics = async () => (await fetch(`${proxy.healthUrl}/metrics`)).text();
  const accessLine = (requestId: string | undefined) =>
    proxy.waitForLog((l: LogLine) => l.access === true && l.request_id === requestId, {
      includePast: true,
    });

  it('lets a 2xx through with its response_headers, and strips the client forged copies', async () => {
    auth.answer((_s, res) => {
      res.setHeader('X-User', 'alice');
      res.setHeader('X-Groups', ['admins', 'ops']); // two lines
      res.setHeader('X-Other', 'not named');
      res.writeHead(200).end('this body is dropped');
    });
    const before = up.requests.length;
    const reply = await rawExchange(
      proxy.port,
      head('GET', '/x', ['X-User: mallory', 'X_User: mallory', 'x-groups: root']),
    );
    assert.deepEqual(reply.statuses, [200]);
    const seen = up.requests[before];
    assert.ok(seen, 'the upstream got the request');
    const values = (name: string) => seen.headers.filter(([n]) => n === name).map(([, v]) => v);
    assert.deepEqual(values('x-user'), ['alice']);
    assert.deepEqual(values('x-groups'), ['admins', 'ops']);
    assert.deepEqual(values('x_user'), [], 'the underscore spelling goes too');
    assert.deepEqual(values('x-other'), [], 'only the named headers are copied');
  });

  it("removes the client's copies even when the auth service sends none", async () => {
    auth.answer((_s, res) => res.writeHead(204).end());
    const before = up.requests.length;
    const reply = await rawExchange(proxy.port, head('GET', '/x', ['X-User: admin']));
    assert.deepEqual(reply.statuses, [200]);
    assert.equal(up.requests[before]?.header('x-user'), undefined);
  });

  it('asks with GET and no body, the original method and URI, forwarded headers, and only the named request_headers', async () => {
    auth.answer((_s, res) => res.writeHead(200).end());
    const before = auth.seen.length;
    const reply = await rawExchange(
      proxy.port,
      head('DELETE', '/items/7?q=1&r=two', [
        'Authorization: Bearer abc',
        'Cookie: session=s1',
        'X-Secret: not for the auth service',
        'X-Forwarded-For: 203.0.113.9', // from an untrusted peer: replaced
      ]),
    );
    assert.deepEqual(reply.statuses, [200]);
    const seen = auth.seen[before];
    assert.ok(seen);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.url, '/check?from=proxy', "the url's own path and query, as given");
    assert.equal(seen.bodyBytes, 0);
    assert.equal(seen.headers['content-length'], undefined);
    assert.equal(seen.headers['transfer-encoding'], undefined);
    assert.equal(seen.headers.host, `127.0.0.1:${auth.port}`);
    assert.equal(seen.headers['x-forwarded-method'], 'DELETE');
    assert.equal(seen.headers['x-forwarded-uri'], '/items/7?q=1&r=two');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], 'a.test');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers.authorization, 'Bearer abc');
    assert.equal(seen.headers.cookie, 'session=s1');
    assert.equal(seen.headers['x-secret'], undefined);
    assert.equal(seen.headers['x-request-id'], headerOf(reply.text, 'x-request-id'));
    assert.match(String(seen.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    // The upstream got the client's own request: method, URI and headers it may see.
    const up1 = up.requests.at(-1);
    assert.equal(up1?.method, 'DELETE');
    assert.equal(up1?.target, '/items/7?q=1&r=two');
    assert.equal(up1?.header('x-secret'), 'not for the auth service');
  });

  it('relays any other answer as given (status, headers, body), and the upstream sees nothing', async () => {
    const before = up.requests.length;
    auth.answer((_s, res) =>
      res
        .writeHead(401, {
          'WWW-Authenticate': 'Bearer realm="api"',
          'content-type': 'application/json',
          'X-Auth-Detail': 'expired',
        })
        .end('{"error":"token expired"}'),
    );
    const denied = await rawExchange(proxy.port, head('GET', '/x'));
    assert.deepEqual(denied.statuses, [401]);
    assert.equal(headerOf(denied.text, 'www-authenticate'), 'Bearer realm="api"');
    assert.equal(headerOf(denied.text, 'x-auth-detail'), 'expired');
    assert.equal(bodyOf(denied.text), '{"error":"token expired"}');
    const requestId = headerOf(denied.text, 'x-request-id');
    assert.ok(requestId, 'the relayed answer carries the request id');

    auth.answer((_s, res) => res.writeHead(403, { 'content-type': 'text/plain' }).end('no'));
    const forbidden = await rawExchange(
      proxy.port,
      `${head('POST', '/x', ['Content-Length: 3'])}abc`,
    );
    assert.deepEqual(forbidden.statuses, [403]);
    assert.equal(bodyOf(forbidden.text), 'no');

    auth.answer((_s, res) =>
      res
        .writeHead(302, {
          Location: 'https://login.example.com/?rd=%2Fx',
          'Set-Cookie': 'state=xyz; HttpOnly',
          Connection: 'keep-alive, X-Hop',
          'X-Hop': 'hop-by-hop: never relayed',
        })
        .end(),
    );
    const redirected = await rawExchange(proxy.port, head('GET', '/x'));
    assert.deepEqual(redirected.statuses, [302]);
    assert.equal(headerOf(redirected.text, 'location'), 'https://login.example.com/?rd=%2Fx');
    assert.equal(headerOf(redirected.text, 'set-cookie'), 'state=xyz; HttpOnly');
    assert.equal(headerOf(redirected.text, 'x-hop'), undefined);

    assert.equal(up.requests.length, before, 'the upstream saw none of the three');
    assert.match(
      await metrics(),
      /reverse_proxy_refusals_total\{site="a",route="\/",reason="auth_denied"\} 3\b/,
    );
    const line = await accessLine(requestId);
    assert.equal(line.status, 401);
    assert.equal(line.reason, 'auth_denied');
  });

  it(`answers 502 when the refusal's body is over 64 KB`, async () => {
    auth.answer((_s, res) => res.writeHead(401).end('x'.repeat(64 * 1024 + 1)));
    const chunked = await rawExchange(proxy.port, head('GET', '/x'));
    assert.deepEqual(chunked.statuses, [502]);
    auth.answer((_s, res) => {
      res.setHeader('content-length', 64 * 1024);
      res.writeHead(401).end('y'.repeat(64 * 1024));
    });
    const atTheBound = await rawExchange(proxy.port, head('GET', '/x'));
    assert.deepEqual(atTheBound.statuses, [401], 'the bound itself is relayed');
    assert.equal(bodyOf(atTheBound.text).length, 64 * 1024);
  });

  it('answers 502 auth_unavailable for an auth service that is down or answers garbage, 504 for a slow one; the upstream sees nothing', async () => {
    const before = up.requests.length;
    const down = await rawExchange(proxy.port, head('GET', '/down/x'));
    assert.deepEqual(down.statuses, [502]);
    assert.match(bodyOf(down.text), /"error":"auth_unavailable"/);
    assert.doesNotMatch(down.text, /127\.0\.0\.1/, 'the answer names no address');
    const broken = await rawExchange(proxy.port, head('GET', '/broken/x'));
    assert.deepEqual(broken.statuses, [502]);
    const startedAt = performance.now();
    const timedOut = await rawExchange(proxy.port, head('GET', '/slow/x'));
    const took = performance.now() - startedAt;
    assert.deepEqual(timedOut.statuses, [504]);
    assert.match(bodyOf(timedOut.text), /"error":"auth_timeout"/);
    assert.ok(took >= 250 && took < 2_000, `answered after ${Math.round(took)} ms`);
    assert.equal(up.requests.length, before);
    const text = await metrics();
    assert.match(text, /refusals_total\{site="a",route="\/down\/",reason="auth_unavailable"\} 1\b/);
    assert.match(
      text,
      /refusals_total\{site="a",route="\/broken\/",reason="auth_unavailable"\} 1\b/,
    );
    assert.match(text, /refusals_total\{site="a",route="\/slow\/",reason="auth_timeout"\} 1\b/);
    const line = await accessLine(headerOf(down.text, 'x-request-id'));
    assert.equal(line.status, 502);
    assert.equal(line.reason, 'auth_unavailable');
    const failed = proxy.logs.find((l) => l.msg === 'forward auth failed');
    assert.equal(failed?.level, 'warn');
  });

  it('holds a POST body while the auth service decides, then the upstream gets it whole', async () => {
    auth.answer((_s, res) => setTimeout(() => res.writeHead(200).end(), 200));
    const body = Buffer.alloc(200_000, 'b');
    const before = up.requests.length;
    const sized = await rawExchange(
      proxy.port,
      Buffer.concat([
        Buffer.from(head('POST', '/upload', [`Content-Length: ${body.length}`])),
        body,
      ]),
    );
    assert.deepEqual(sized.statuses, [200]);
    assert.ok(up.requests[before]?.body.equals(body), 'the sized body arrived intact');
    const chunked = Buffer.from(
      `${head('PUT', '/upload', ['Transfer-Encoding: chunked'])}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
    );
    const reply = await rawExchange(proxy.port, chunked);
    assert.deepEqual(reply.statuses, [200]);
    assert.equal(up.requests[before + 1]?.body.toString(), 'hello world');
    assert.equal(auth.seen.at(-1)?.bodyBytes, 0, 'the auth service got no body');
  });

  it('keeps its connections to the auth service alive across requests', async () => {
    auth.answer((_s, res) => res.writeHead(200).end());
    const before = auth.connections();
    const asked = auth.seen.length;
    for (let i = 0; i < 5; i++) {
      assert.deepEqual((await rawExchange(proxy.port, head('GET', '/x'))).statuses, [200]);
    }
    assert.equal(auth.seen.length, asked + 5, 'one subrequest per request, nothing cached');
    // One pool per origin: at most one new connection per worker for five requests in turn.
    assert.ok(auth.connections() - before <= 2, `${auth.connections() - before} connections`);
  });

  it('asks an https auth service', async () => {
    secure.answer((_s, res) => res.writeHead(200, { 'X-User': 'tls-user' }).end());
    const before = up.requests.length;
    const reply = await rawExchange(proxy.port, head('GET', '/tls/x'));
    assert.deepEqual(reply.statuses, [200]);
    assert.equal(secure.seen.at(-1)?.url, '/verify');
    assert.equal(up.requests[before]?.header('x-user'), 'tls-user');
  });

  it('decides HTTP/2 requests the same way: a body held and delivered, a refusal relayed', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, {
      servername: 'a.test',
      rejectUnauthorized: false,
    });
    const exchange = async (headers: http2.OutgoingHttpHeaders, body?: Buffer) => {
      const stream = session.request({ ':authority': 'a.test', ...headers });
      stream.end(body);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      await once(stream, 'end');
      return { headers: response, body: Buffer.concat(chunks).toString() };
    };
    try {
      auth.answer((_s, res) =>
        setTimeout(() => res.writeHead(200, { 'X-User': 'h2-user' }).end(), 100),
      );
      const before = up.requests.length;
      const body = Buffer.alloc(50_000, 'c');
      const passed = await exchange(
        { ':method': 'POST', ':path': '/h2?x=1', cookie: ['a=1', 'b=2'] },
        body,
      );
      assert.equal(passed.headers[':status'], 200);
      assert.ok(up.requests[before]?.body.equals(body), 'the body arrived intact');
      assert.equal(up.requests[before]?.header('x-user'), 'h2-user');
      const asked = auth.seen.at(-1);
      assert.equal(asked?.headers['x-forwarded-proto'], 'https');
      assert.equal(asked?.headers['x-forwarded-uri'], '/h2?x=1');
      assert.equal(asked?.headers.cookie, 'a=1; b=2', "HTTP/2's cookie lines, joined");

      auth.answer((_s, res) =>
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' }).end('who are you?'),
      );
      const denied = await exchange({ ':method': 'GET', ':path': '/h2' });
      assert.equal(denied.headers[':status'], 401);
      assert.equal(denied.headers['www-authenticate'], 'Basic realm="x"');
      assert.equal(denied.body, 'who are you?');
      assert.equal(up.requests.length, before + 1);
    } finally {
      session.close();
    }
  });

  it('decides WebSocket handshakes too: an Upgrade header is no way around the gate', async () => {
    const handshake = (path: string, extra: string[] = []) =>
      rawExchange(
        proxy.port,
        head(
          'GET',
          path,
          [
            'Connection: Upgrade',
            'Upgrade: websocket',
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
            'Sec-WebSocket-Version: 13',
            ...extra,
          ],
          false,
        ),
        { maxMs: 2_000 },
      );
    const before = handshakes.length;
    auth.answer((_s, res) =>
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="ws"' }).end('no socket for you'),
    );
    const denied = await handshake('/ws/chat');
    assert.deepEqual(denied.statuses, [401]);
    assert.equal(headerOf(denied.text, 'www-authenticate'), 'Bearer realm="ws"');
    assert.equal(bodyOf(denied.text), 'no socket for you');
    assert.ok(headerOf(denied.text, 'x-request-id'));
    assert.ok(denied.closed, 'the connection closes after the refusal');
    const forbidden = await handshake('/ws-denied/chat');
    assert.deepEqual(forbidden.statuses, [403]);
    assert.equal(handshakes.length, before, 'the upstream saw neither handshake');

    auth.answer((_s, res) => res.writeHead(200, { 'X-User': 'ws-user' }).end());
    const upgraded = await handshake('/ws/chat', ['X-User: mallory']);
    assert.deepEqual(upgraded.statuses, [101]);
    assert.equal(handshakes.length, before + 1);
    assert.equal(handshakes.at(-1)?.['x-user'], 'ws-user');
    assert.equal(auth.seen.at(-1)?.headers['x-forwarded-uri'], '/ws/chat');
    const text = await metrics();
    assert.match(text, /refusals_total\{site="a",route="\/ws\/",reason="auth_denied"\} 1\b/);
    assert.match(text, /refusals_total\{site="a",route="\/ws-denied\/",reason="forbidden"\} 1\b/);
  });

  it('asks nothing for a route without forward_auth', async () => {
    const asked = auth.seen.length + slow.seen.length + secure.seen.length;
    const reply = await rawExchange(proxy.port, head('GET', '/open/x', ['X-User: me']));
    assert.deepEqual(reply.statuses, [200]);
    assert.equal(auth.seen.length + slow.seen.length + secure.seen.length, asked);
  });
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawExchange, startRecordingUpstream } from '../raw-http.ts';
import type { RecordedRequest, RecordingUpstream } from '../raw-http.ts';
import { request, startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';

/**
 * Issue 21: match kinds, conditions, rewrites and redirects through a real proxy. The upstream
 * is a raw recorder that answers with the route's name it was given in a request header, so
 * each answer says which route matched and each record says what crossed the wire.
 */
describe('matching, rewrites and redirects', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: RecordingUpstream;
  let proxy: ProxyProcess;

  const named = (name: string) => `request_headers: { set: { X-Route: ${name} } }`;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    up = await startRecordingUpstream((req: RecordedRequest) => {
      const body = req.header('x-route') ?? '';
      return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    });
    const path = join(dir, 'proxy.yaml');
    const u = `upstream: "${up.url}"`;
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ''
health:
  address: 127.0.0.1:0
sites:
  - name: m
    hosts: [m.test]
    routes:
      - { path: /, ${u}, ${named('root')} }
      - { path: /api/, ${u}, ${named('api')} }
      - path: /api/
        headers: { X-Canary: "1" }
        ${u}
        ${named('canary')}
      - { path: /healthz, path_match: exact, ${u}, ${named('exact')} }
      - path: '^/users/([0-9]+)/(posts|likes)/?$'
        path_match: regex
        methods: [GET, HEAD]
        rewrite: { path: '/u/$1/$2' }
        ${u}
        ${named('users')}
      - path: /v1/
        query: { version: "2" }
        rewrite: { path: /v2/ }
        ${u}
        ${named('v2')}
      - { path: '^/(a|aa)*b$', path_match: regex, ${u}, ${named('evil')} }
      - { path: '^/dot/(.*)$', path_match: regex, rewrite: { path: '/x/.$1/' }, ${u}, ${named('dot')} }
      - { path: /r301/, redirect: { status: 301, host: www.m.test, path: /new/ } }
      - { path: /r302/, redirect: { status: 302 } }
      - { path: /r303/, redirect: { status: 303, scheme: https } }
      - { path: /r307/, redirect: { status: 307, port: 9090 } }
      - { path: /r308/, redirect: { status: 308, scheme: https, port: 8443, path: / } }
      - { path: '^/dotr/(.*)$', path_match: regex, redirect: { path: '/x/.$1/' } }
      - path: '^/blog/([0-9]{4})/(.+)$'
        path_match: regex
        redirect: { status: 301, path: '/archive/$1/$2' }
`,
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    request(`http://127.0.0.1:${proxy.port}`, { host: 'm.test', rawPath: path, headers, method });
  const lastSeen = () => up.requests[up.requests.length - 1] as RecordedRequest;

  it('routes by kind: exact, regex, prefix, and the canary pair by header', async () => {
    assert.equal((await get('/healthz')).body, 'exact');
    assert.equal((await get('/healthz/x')).body, 'root', 'exact is exact');
    assert.equal((await get('/api/x')).body, 'api');
    assert.equal((await get('/api/x', { 'X-Canary': '1' })).body, 'canary');
    assert.equal((await get('/api/x', { 'X-Canary': '2' })).body, 'api');
    assert.equal((await get('/users/7/posts')).body, 'users');
    assert.equal((await get('/users/7/posts', {}, 'POST')).body, 'root', 'methods hold');
  });

  it('a regex route rewrites with its captures and keeps the query string as sent', async () => {
    const reply = await get('/users/42/likes/?page=2&sort=a%2Cb');
    assert.equal(reply.body, 'users');
    assert.equal(lastSeen().target, '/u/42/likes?page=2&sort=a%2Cb');
  });

  it('a query condition, and a prefix rewrite that keeps the rest of the path', async () => {
    assert.equal((await get('/v1/items?version=2&x=1')).body, 'v2');
    assert.equal(lastSeen().target, '/v2/items?version=2&x=1');
    assert.equal((await get('/v1/items?version=3')).body, 'root');
    assert.equal(lastSeen().target, '/v1/items?version=3');
  });

  it('the path is normalised before matching and rewriting', async () => {
    assert.equal((await get('//users/%37/posts')).body, 'users');
    assert.equal(lastSeen().target, '/u/7/posts');
  });

  it('a rewrite into a path the normal form refuses is answered 400 and never forwarded', async () => {
    const before = up.requests.length;
    const reply = await get('/dot/');
    assert.equal(reply.status, 400);
    assert.match(reply.body, /"error":"bad_rewrite"/);
    assert.equal(up.requests.length, before);
  });

  it('redirects with every status, keeping the query string', async () => {
    const cases: [string, number, string][] = [
      ['/r301/a/b?q=1', 301, 'http://www.m.test/new/a/b?q=1'],
      ['/r302/a?q=1', 302, 'http://m.test/r302/a?q=1'],
      ['/r303/a', 303, 'https://m.test/r303/a'],
      ['/r307/x?y', 307, 'http://m.test:9090/r307/x?y'],
      ['/r308/deep/er', 308, 'https://m.test:8443/deep/er'],
      ['/blog/2024/hello/world?ref=x', 301, 'http://m.test/archive/2024/hello/world?ref=x'],
    ];
    const before = up.requests.length;
    for (const [path, status, location] of cases) {
      const reply = await get(path);
      assert.equal(reply.status, status, path);
      assert.equal(reply.headers.location, location, path);
      assert.equal(reply.headers['content-length'], '0');
      assert.ok(reply.headers['x-request-id']);
    }
    assert.equal(up.requests.length, before, 'a redirect route has no upstream');
  });

  it('a redirect path the normal form refuses is 400 bad_rewrite', async () => {
    const reply = await get('/dotr/');
    assert.equal(reply.status, 400);
    assert.match(reply.body, /"error":"bad_rewrite"/);
  });

  it('a WebSocket handshake on a redirect route gets the redirect on its socket', async () => {
    const reply = await rawExchange(
      proxy.port,
      'GET /r308/ws HTTP/1.1\r\nHost: m.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.deepEqual(reply.statuses, [308]);
    assert.match(reply.text, /\r\nlocation: https:\/\/m\.test:8443\/ws\r\n/);
  });

  it("keeps the Host's port unless the redirect sets the scheme or the port", async () => {
    const reply = await request(`http://127.0.0.1:${proxy.port}`, {
      host: 'm.test:8443',
      rawPath: '/r302/p',
    });
    assert.equal(reply.headers.location, 'http://m.test:8443/r302/p');
  });

  it('answers a pathological pattern on a long path at once (linear-time engine)', async () => {
    // (a|aa)*b against a^n without b backtracks exponentially in a backtracking engine: the
    // reply would never come within rawExchange's 10 s, and the assertion below would fail.
    const path = `/${'a'.repeat(900)}`;
    const reply = await rawExchange(
      proxy.port,
      `GET ${path} HTTP/1.1\r\nHost: m.test\r\nConnection: close\r\n\r\n`,
    );
    assert.deepEqual(reply.statuses, [200]);
    assert.match(reply.text, /\r\n\r\nroot$/);
    assert.equal((await get(`/${'a'.repeat(900)}b`)).body, 'evil');
  });
});

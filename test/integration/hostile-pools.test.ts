import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configYaml, startProxy, tmpDir } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';
import { rawExchange, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';

const UNAVAILABLE = 'HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy';

/**
 * The paths issue 12 added (retries, header rules, strip_prefix), attacked over a raw socket
 * against raw recording upstreams: what crossed the wire on each side, not what a library
 * made of it. The first upstream answers 503 (or worse) to everything; the second `200 ok`.
 */
describe('upstream pools over raw sockets', () => {
  let proxy: ProxyProcess;
  let cleanup: () => Promise<void>;
  let failing: RecordingUpstream, healthy: RecordingUpstream, rules: RecordingUpstream;
  const REPLIES: Record<string, string> = {
    '/r/hints': `HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n${UNAVAILABLE}`,
    '/r/garbage': 'HTTP/1.1 999 Nope\r\ncontent-length: 0\r\n\r\n',
  };

  before(async () => {
    failing = await startRecordingUpstream((req) => REPLIES[req.target] ?? UNAVAILABLE);
    healthy = await startRecordingUpstream();
    rules = await startRecordingUpstream();
    const t = await tmpDir();
    cleanup = t.cleanup;
    const path = join(t.dir, 'proxy.yaml');
    // round_robin starts with the first upstream: every first attempt meets the 503.
    await writeFile(
      path,
      configYaml(`  - name: edge
    hosts: ["*"]
    routes:
      - path: /r/
        upstreams: [{ url: "${failing.url}", weight: 1000 }, { url: "${healthy.url}" }]
        retries: { attempts: 1, budget_percent: 100 }
        passive_health: { consecutive_failures: 0 }
      - path: /h/
        upstream: "${rules.url}"
        strip_prefix: true
        request_headers: { set: { X-Env: prod }, add: { X-Added: rule }, remove: [X-Debug] }
`),
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    for (const u of [failing, healthy, rules]) await u.close();
    await cleanup();
  });

  it('pipelined GETs answered 503 are retried on the other upstream, in order, each framed once', async () => {
    const before = { failing: failing.requests.length, healthy: healthy.requests.length };
    let burst = '';
    for (let i = 0; i < 5; i++) burst += `GET /r/p${i} HTTP/1.1\r\nHost: a.test\r\n\r\n`;
    const reply = await rawExchange(proxy.port, burst, { expect: 5 });
    assert.deepEqual(reply.statuses, [200, 200, 200, 200, 200]);
    const tried = failing.requests.slice(before.failing).map((r) => r.target);
    const served = healthy.requests.slice(before.healthy).map((r) => r.target);
    assert.deepEqual(tried, ['/r/p0', '/r/p1', '/r/p2', '/r/p3', '/r/p4']);
    assert.deepEqual(served, ['/r/p0', '/r/p1', '/r/p2', '/r/p3', '/r/p4']);
    for (const r of healthy.requests.slice(before.healthy)) {
      assert.equal(r.headers.filter(([n]) => n === 'host').length, 1);
      assert.equal(r.body.length, 0);
    }
    assert.doesNotMatch(reply.text, /busy/, 'the dropped 503 body never reached the client');
  });

  it('a chunked POST answered 503 is passed through, never replayed, its body framed once', async () => {
    const before = { failing: failing.requests.length, healthy: healthy.requests.length };
    const reply = await rawExchange(
      proxy.port,
      'POST /r/pay HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    );
    assert.deepEqual(reply.statuses, [503]);
    const seen = failing.requests.slice(before.failing);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.body.toString(), 'hello world');
    assert.equal(healthy.requests.length, before.healthy, 'the other upstream saw nothing');
  });

  it('a 103 before the 503 is relayed, and the retry answers the final status', async () => {
    const before = healthy.requests.length;
    const reply = await rawExchange(proxy.port, 'GET /r/hints HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.deepEqual(reply.statuses, [103, 200]);
    assert.equal(healthy.requests.length, before + 1);
  });

  it('a reply the proxy will not pass on (status 999) is a 502, never retried', async () => {
    const before = healthy.requests.length;
    const reply = await rawExchange(proxy.port, 'GET /r/garbage HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.deepEqual(reply.statuses, [502]);
    assert.equal(healthy.requests.length, before);
  });

  it('header rules cannot be undone by Connection, duplicates or underscores; strip_prefix keeps the query', async () => {
    const reply = await rawExchange(
      proxy.port,
      'GET /h/users?q=1&r=2 HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, X-Env\r\n' +
        'X-Env: dev\r\nX-Env: qa\r\nX_Env: alias\r\nX-Added: client\r\nX-Debug: 1\r\n\r\n',
    );
    assert.deepEqual(reply.statuses, [200]);
    const seen = rules.requests.at(-1);
    assert.equal(seen?.target, '/users?q=1&r=2');
    assert.deepEqual(
      seen?.headers.filter(([n]) => n === 'x-env' || n === 'x_env'),
      [['x-env', 'prod']],
    );
    assert.deepEqual(
      seen?.headers.filter(([n]) => n === 'x-added').map(([, v]) => v),
      ['client', 'rule'],
    );
    assert.equal(seen?.header('x-debug'), undefined);
    assert.equal(seen?.headers.filter(([n]) => n === 'host').length, 1);
  });

  it('a 503 body from the dropped attempt never leaks onto the upstream connection reused next', async () => {
    // After a retry the first upstream's connection was aborted: the next request there starts
    // clean on a new one, framed as one request.
    const before = failing.requests.length;
    const reply = await rawExchange(proxy.port, 'GET /r/again HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.deepEqual(reply.statuses, [200]);
    const seen = failing.requests.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.target, '/r/again');
  });
});

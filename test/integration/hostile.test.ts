import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configYaml, request, startProxy, tmpDir } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';
import { eventually } from '../sidecar-process.ts';
import { ok, rawExchange, rawExchangeSeen, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';

/**
 * The data path attacked over raw sockets, against raw recording upstreams: each assertion is
 * about the bytes that crossed the wire (issue 10).
 */
describe('hostile clients and upstreams', () => {
  let proxy: ProxyProcess;
  let pub: RecordingUpstream, adm: RecordingUpstream, root: RecordingUpstream;
  let bad: RecordingUpstream, hold: RecordingUpstream;
  let cleanup: () => Promise<void>;

  /** Answers by path, the ways a broken or hostile upstream would. */
  const BAD_REPLIES: Record<string, string | null> = {
    '/bad/099': 'HTTP/1.1 099 X\r\n\r\n',
    '/bad/600': 'HTTP/1.1 600 Odd\r\ncontent-length: 2\r\n\r\nok',
    '/bad/ctl': 'HTTP/1.1 200 O\x01K\r\ncontent-length: 2\r\n\r\nok',
    '/bad/chunk': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nxx\r\n',
    '/bad/103':
      'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal',
    '/bad/102': 'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal',
    '/bad/reason': 'HTTP/1.1 200 Totally Custom\r\ncontent-length: 2\r\n\r\nok',
    '/bad/ws401': 'HTTP/1.1 401 Unauthorized\r\ncontent-length: 4\r\nx-why: token\r\n\r\nnope',
  };

  before(async () => {
    pub = await startRecordingUpstream();
    adm = await startRecordingUpstream();
    root = await startRecordingUpstream();
    bad = await startRecordingUpstream((req) => BAD_REPLIES[req.target] ?? ok());
    hold = await startRecordingUpstream(() => null);
    const t = await tmpDir();
    cleanup = t.cleanup;
    const path = join(t.dir, 'proxy.yaml');
    await writeFile(
      path,
      configYaml(
        `  - name: edge
    hosts: ["*"]
    routes:
      - { path: /public/, upstream: "${pub.url}" }
      - { path: /admin/, upstream: "${adm.url}" }
      - { path: /, upstream: "${root.url}" }
      - { path: /bad/, upstream: "${bad.url}" }
      - { path: /hold/, upstream: "${hold.url}", timeout_ms: 30000 }
`,
        `client:
  header_timeout_ms: 1000
  body_idle_timeout_ms: 1000
`,
      ),
    );
    proxy = await startProxy(path);
  });

  after(async () => {
    await proxy.stop();
    for (const u of [pub, adm, root, bad, hold]) await u.close();
    await cleanup();
  });

  const alive = async () => {
    const reply = await request(`${proxy.url}/public/alive`, { host: 'a.example' });
    assert.equal(reply.status, 200, 'the proxy still serves');
  };

  describe('request smuggling through a Connection-named framing header', () => {
    const second =
      'GET /admin/secret HTTP/1.1\r\nHost: internal\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
    for (const method of ['GET', 'DELETE', 'OPTIONS']) {
      it(`${method} + Expect + Connection: content-length reaches the upstream as ONE request`, async () => {
        const before = pub.requests.length;
        const admBefore = adm.requests.length;
        const reply = await rawExchange(
          proxy.port,
          `${method} /public/x HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\n` +
            `Connection: content-length\r\nContent-Length: ${second.length}\r\n\r\n${second}`,
        );
        assert.deepEqual(reply.statuses, [100, 200]);
        const seen = pub.requests.slice(before);
        assert.equal(seen.length, 1, 'exactly one request upstream');
        assert.equal(adm.requests.length, admBefore, 'nothing reached the /admin/ upstream');
        assert.equal(seen[0]?.target, '/public/x');
        assert.equal(seen[0]?.header('content-length'), String(second.length));
        assert.equal(seen[0]?.body.toString(), second, 'the second request stays a body');
        assert.equal(seen[0]?.header('expect'), undefined);
      });
    }

    it('Connection: transfer-encoding with a chunked body is one request too', async () => {
      const before = pub.requests.length;
      const chunked = `${second.length.toString(16)}\r\n${second}\r\n0\r\n\r\n`;
      const reply = await rawExchange(
        proxy.port,
        'POST /public/te HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\n' +
          `Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      );
      assert.deepEqual(reply.statuses, [100, 200]);
      const seen = pub.requests.slice(before);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.body.toString(), second);
      // The body is re-framed by the proxy, never passed on unframed.
      const framing = [seen[0]?.header('transfer-encoding'), seen[0]?.header('content-length')];
      assert.ok(
        framing[0] === 'chunked' || framing[1] === String(second.length),
        `framing: ${framing.join(' / ')}`,
      );
    });

    it('Connection: host does not remove Host', async () => {
      const { seen } = await rawExchangeSeen(
        pub,
        proxy.port,
        'GET /public/h HTTP/1.1\r\nHost: a.example\r\nConnection: host\r\n\r\n',
      );
      assert.equal(seen?.header('host'), 'a.example');
    });
  });

  describe('replies no upstream may crash or hang the proxy with', () => {
    for (const expectContinue of [false, true]) {
      const extra = expectContinue ? 'Expect: 100-continue\r\nContent-Length: 2\r\n' : '';
      const body = expectContinue ? 'hi' : '';
      const label = expectContinue ? ' (Expect path)' : '';
      it(`status 099 and 600 are a clean 502${label}`, async () => {
        for (const path of ['/bad/099', '/bad/600']) {
          const reply = await rawExchange(
            proxy.port,
            `POST ${path} HTTP/1.1\r\nHost: a.example\r\n${extra}\r\n${body}`,
          );
          assert.equal(reply.statuses.at(-1), 502, `${path}: ${reply.text}`);
        }
        await alive();
      });

      it(`a control byte in the reason phrase gets an answer, never the phrase${label}`, async () => {
        const reply = await rawExchange(
          proxy.port,
          `POST /bad/ctl HTTP/1.1\r\nHost: a.example\r\n${extra}\r\n${body}`,
        );
        const final = reply.statuses.at(-1);
        assert.ok(final === 200 || final === 502, reply.text);
        assert.equal(reply.text.includes('\x01'), false);
        await alive();
      });

      it(`an invalid chunk ends in a clean 502 or a cut, never two framings${label}`, async () => {
        const reply = await rawExchange(
          proxy.port,
          `POST /bad/chunk HTTP/1.1\r\nHost: a.example\r\n${extra}\r\n${body}`,
        );
        const lower = reply.text.toLowerCase();
        assert.equal(
          lower.includes('transfer-encoding') && lower.includes('content-length'),
          false,
          reply.text,
        );
        await alive();
      });
    }

    it('the upstream reason phrase is replaced by the standard one', async () => {
      const reply = await rawExchange(
        proxy.port,
        'GET /bad/reason HTTP/1.1\r\nHost: a.example\r\n\r\n',
      );
      assert.match(reply.text, /^HTTP\/1\.1 200 OK\r\n/);
    });

    it('relays 103 Early Hints, then the final response', async () => {
      const reply = await rawExchange(
        proxy.port,
        'GET /bad/103 HTTP/1.1\r\nHost: a.example\r\n\r\n',
      );
      assert.deepEqual(reply.statuses, [103, 200]);
      assert.match(reply.text, /link: <\/a\.css>; rel=preload/i);
      assert.match(reply.text, /final$/);
    });

    it('drops 102 Processing and delivers the final response', async () => {
      const reply = await rawExchange(
        proxy.port,
        'GET /bad/102 HTTP/1.1\r\nHost: a.example\r\n\r\n',
      );
      assert.deepEqual(reply.statuses, [200]);
      assert.match(reply.text, /final$/);
    });
  });

  describe('upgrades', () => {
    it('serves Upgrade: h2c as a normal request, without the upgrade headers', async () => {
      const before = root.requests.length;
      const reply = await rawExchange(
        proxy.port,
        'GET /h2c HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
          'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
      );
      assert.deepEqual(reply.statuses, [200]);
      const seen = root.requests[before];
      assert.equal(seen?.target, '/h2c');
      assert.equal(seen?.header('upgrade'), undefined);
      assert.equal(seen?.header('http2-settings'), undefined);
    });

    it('relays an upstream that declines a WebSocket handshake (401), then closes', async () => {
      const reply = await rawExchange(
        proxy.port,
        'GET /bad/ws401 HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      assert.deepEqual(reply.statuses, [401]);
      assert.match(reply.text, /x-why: token\r\n/);
      assert.match(reply.text, /\r\n\r\nnope$/);
      assert.equal(reply.closed, true);
      const seen = bad.requests.find((r) => r.target === '/bad/ws401');
      assert.equal(seen?.header('upgrade'), 'websocket');
      assert.equal(seen?.header('sec-websocket-key'), 'dGhlIHNhbXBsZSBub25jZQ==');
    });

    it('serves a POST with Upgrade: websocket as a normal request with its body', async () => {
      const before = root.requests.length;
      const reply = await rawExchange(
        proxy.port,
        'POST /up HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Content-Length: 5\r\n\r\nhello',
      );
      assert.deepEqual(reply.statuses, [200]);
      assert.equal(root.requests[before]?.body.toString(), 'hello');
    });
  });

  describe('slow clients', () => {
    it('cuts a body that goes idle, and the upstream exchange with it', async () => {
      const openBefore = hold.accepted();
      const reply = await rawExchange(
        proxy.port,
        'POST /hold/slow HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100\r\n\r\n0123456789',
        { expect: 99, maxMs: 8_000 },
      );
      assert.equal(reply.closed, true, 'the proxy closed the idle upload');
      assert.equal(hold.accepted(), openBefore + 1);
      await eventually('the upstream connection is released', () => hold.open() === 0 || undefined);
      const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
      assert.match(metrics, /reverse_proxy_client_timeouts_total\{phase="body_idle"\} [1-9]/);
    });

    it('cuts a body that is never idle but trickles below the minimum rate', async () => {
      const before = hold.accepted();
      const socket = net.connect(proxy.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(
        'POST /hold/trickle HTTP/1.1\r\nHost: a.example\r\nContent-Length: 1000\r\n\r\n',
      );
      // One byte every 300 ms: never idle for the 1 s idle timeout, ~3 B/s against 512 B/s.
      const drip = setInterval(() => socket.write('x'), 300);
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      clearInterval(drip);
      assert.equal(hold.accepted(), before + 1);
      await eventually('the upstream connection is released', () => hold.open() === 0 || undefined);
      const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
      // The rate rule cut it (after one 10 s window), not the 300 s whole-request deadline.
      assert.match(metrics, /reverse_proxy_client_timeouts_total\{phase="body_rate"\} 1/);
    });

    it('answers 408 and closes a request whose headers never finish', async () => {
      const reply = await rawExchange(proxy.port, 'GET /public/slow HTTP/1.1\r\nHost: a', {
        expect: 99,
        maxMs: 8_000,
      });
      assert.equal(reply.closed, true);
      assert.deepEqual(reply.statuses, [408]);
    });
  });

  describe('path confusion: one normalisation for matching and upstream', () => {
    const refused = [
      '/public/..%2fadmin',
      '/public/x%2f..%2f..%2fadmin',
      '/public/..%00/admin',
      '/admin%2fx',
      '/public/%2e%2e/admin',
      '/public\\..\\admin',
    ];
    for (const target of refused) {
      it(`refuses ${target}`, async () => {
        const reply = await rawExchange(
          proxy.port,
          `GET ${target} HTTP/1.1\r\nHost: a.example\r\n\r\n`,
        );
        assert.deepEqual(reply.statuses, [400], reply.text);
      });
    }
    for (const [target, expected] of [
      ['/%61dmin/x', '/admin/x'],
      ['//admin/x', '/admin/x'],
      ['/admin//x?q=%2f//', '/admin/x?q=%2f//'],
    ] as const) {
      it(`routes ${target} to /admin/ and sends ${expected} upstream`, async () => {
        const before = adm.requests.length;
        const reply = await rawExchange(
          proxy.port,
          `GET ${target} HTTP/1.1\r\nHost: a.example\r\n\r\n`,
        );
        assert.deepEqual(reply.statuses, [200]);
        assert.equal(adm.requests[before]?.target, expected);
      });
    }
  });

  describe('headers', () => {
    for (const [label, hostLines] of [
      ['two Host headers', 'Host: a.example\r\nHost: b.example\r\n'],
      ['a Host with a comma', 'Host: a.example, b.example\r\n'],
      ['a Host with a slash', 'Host: a.example/x\r\n'],
      ['an empty Host', 'Host: \r\n'],
    ] as const) {
      it(`refuses ${label} with 400`, async () => {
        const before = pub.requests.length;
        const reply = await rawExchange(proxy.port, `GET /public/h HTTP/1.1\r\n${hostLines}\r\n`);
        assert.deepEqual(reply.statuses, [400]);
        assert.equal(pub.requests.length, before, 'nothing reached the upstream');
      });
    }

    it('drops underscore headers that alias X-Forwarded-* and Host', async () => {
      const { seen } = await rawExchangeSeen(
        pub,
        proxy.port,
        'GET /public/u HTTP/1.1\r\nHost: a.example\r\nX_Forwarded_For: 6.6.6.6\r\n' +
          'x_forwarded_proto: https\r\nX_Real_IP: 6.6.6.6\r\nX_Custom_Thing: kept\r\n\r\n',
      );
      const names = seen?.headers.map(([n]) => n) ?? [];
      assert.deepEqual(
        names.filter((n) => n.includes('_')),
        ['x_custom_thing'],
      );
      assert.equal(seen?.header('x-forwarded-for'), '127.0.0.1');
    });

    it('answers TRACE with 405', async () => {
      const before = root.requests.length;
      const reply = await rawExchange(proxy.port, 'TRACE / HTTP/1.1\r\nHost: a.example\r\n\r\n');
      assert.deepEqual(reply.statuses, [405]);
      assert.equal(root.requests.length, before);
    });

    for (const [label, head, status] of [
      ['Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n', 501],
      [
        'identity then chunked on two lines',
        'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n',
        501,
      ],
      ['Transfer-Encoding: ,chunked', 'Transfer-Encoding: ,chunked\r\n', 501],
    ] as const) {
      it(`refuses ${label} with ${status}, never forwarding the body unlabelled`, async () => {
        const before = pub.requests.length;
        const reply = await rawExchange(
          proxy.port,
          `POST /public/te HTTP/1.1\r\nHost: a.example\r\n${head}\r\n5\r\nhello\r\n0\r\n\r\n`,
        );
        assert.deepEqual(reply.statuses, [status], reply.text);
        assert.equal(pub.requests.length, before);
      });
    }

    it('refuses Transfer-Encoding on HTTP/1.0 (faulty framing) and an HTTP/2.0 request line', async () => {
      const te = await rawExchange(
        proxy.port,
        'POST /public/te HTTP/1.0\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      );
      assert.deepEqual(te.statuses, [400]);
      const h2 = await rawExchange(
        proxy.port,
        'GET /public/h2 HTTP/2.0\r\nHost: a.example\r\n\r\n',
      );
      assert.deepEqual(h2.statuses.slice(0, 1), [505], h2.text);
    });

    it('answers CONNECT with 405 instead of a silent close', async () => {
      const reply = await rawExchange(
        proxy.port,
        'CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n',
      );
      assert.deepEqual(reply.statuses, [405]);
      assert.equal(reply.closed, true);
    });

    it('replaces X-Forwarded-* from a peer outside trusted_proxies', async () => {
      const { seen } = await rawExchangeSeen(
        pub,
        proxy.port,
        'GET /public/xff HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 6.6.6.6\r\n' +
          'X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6\r\n\r\n',
      );
      assert.equal(seen?.header('x-forwarded-for'), '127.0.0.1');
      assert.equal(seen?.header('x-forwarded-proto'), 'http');
      assert.equal(seen?.header('x-forwarded-host'), 'a.example');
      assert.equal(seen?.header('forwarded'), undefined);
    });
  });
});

describe('pipelining, trusted peers and the upstream pool cap', () => {
  let proxy: ProxyProcess;
  let up: RecordingUpstream, pipe: RecordingUpstream;
  let cleanup: () => Promise<void>;

  before(async () => {
    // Answers /slow/* only when the test lets it; everything else at once.
    up = await startRecordingUpstream((req) => (req.target.startsWith('/slow/') ? null : ok()));
    pipe = await startRecordingUpstream((req) => ok(req.target));
    const t = await tmpDir();
    cleanup = t.cleanup;
    const path = join(t.dir, 'proxy.yaml');
    await writeFile(
      path,
      configYaml(
        `  - name: edge
    hosts: ["*"]
    routes:
      - { path: /, upstream: "${up.url}" }
      - { path: /pipe/, upstream: "${pipe.url}" }
`,
        `trusted_proxies: [127.0.0.0/8, "::1"]
upstream_pool:
  max_connections: 2
  max_queued: 1
`,
      ),
    );
    // One process even under TEST_WORKERS: the pool cap is checked as one pool (with workers
    // it is shared out among them, docs/config.md).
    proxy = await startProxy(path, ['--workers', '1']);
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await pipe.close();
    await cleanup();
  });

  it('pipelined requests run one at a time upstream, answered in order', async () => {
    const count = 2_000;
    let burst = '';
    for (let i = 0; i < count; i++) burst += `GET /pipe/${i} HTTP/1.1\r\nHost: a.example\r\n\r\n`;
    const reply = await rawExchange(proxy.port, burst, { expect: count, maxMs: 30_000 });
    assert.equal(reply.statuses.filter((s) => s === 200).length, count);
    assert.equal(pipe.peakOpen(), 1, 'one upstream connection carried them all');
    assert.equal(pipe.accepted(), 1);
    const order = [...reply.text.matchAll(/\r\n\r\n\/pipe\/(\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(
      order,
      Array.from({ length: count }, (_, i) => i),
    );
  });

  it('answers pipelined and keep-alive requests with bodies, each on its turn', async () => {
    const before = pipe.requests.length;
    let burst = '';
    for (let i = 0; i < 3; i++) {
      const body = `body-${i}-`.repeat(1000);
      burst += `POST /pipe/post${i} HTTP/1.1\r\nHost: a.example\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    }
    const reply = await rawExchange(proxy.port, burst, { expect: 3 });
    assert.deepEqual(reply.statuses, [200, 200, 200]);
    const seen = pipe.requests.slice(before);
    assert.deepEqual(
      seen.map((r) => [r.target, r.body.length]),
      [0, 1, 2].map((i) => [`/pipe/post${i}`, `body-${i}-`.length * 1000]),
    );
  });

  it('appends to X-Forwarded-For and keeps Proto and Host from a trusted peer', async () => {
    const { seen } = await rawExchangeSeen(
      up,
      proxy.port,
      'GET /t HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 203.0.113.9\r\n' +
        'X-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example\r\n\r\n',
    );
    assert.equal(seen?.header('x-forwarded-for'), '203.0.113.9, 127.0.0.1');
    assert.equal(seen?.header('x-forwarded-proto'), 'https');
    assert.equal(seen?.header('x-forwarded-host'), 'www.example');
  });

  it('opens at most max_connections per origin, queues max_queued, refuses the rest with 503', async () => {
    const replies = Array.from({ length: 5 }, (_, i) =>
      rawExchange(proxy.port, `GET /slow/${i} HTTP/1.1\r\nHost: a.example\r\n\r\n`, {
        maxMs: 1_500,
      }),
    );
    const settled = await Promise.all(replies);
    const busy = settled.filter((r) => r.statuses[0] === 503);
    assert.equal(busy.length, 2, 'five requests, two connections, one queued: two refused');
    assert.match(busy[0]?.text ?? '', /"error":"upstream_busy"/);
    assert.ok(up.peakOpen() <= 2, `upstream saw ${up.peakOpen()} connections at once`);
    const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
    assert.match(metrics, /reverse_proxy_upstream_pool_max_connections 2/);
    assert.match(
      metrics,
      /reverse_proxy_upstream_errors_total\{site="edge",route="\/",reason="busy"\} 2/,
    );
    assert.match(
      metrics,
      /reverse_proxy_upstream_pool_connections\{origin="http:\/\/127\.0\.0\.1:\d+"\}/,
    );
  });
});

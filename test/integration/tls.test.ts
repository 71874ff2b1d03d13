import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { makeCertificate, servedName } from '../certs.ts';
import { startRecordingUpstream } from '../raw-http.ts';
import { eventually } from '../sidecar-process.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import type { TestCertificate } from '../certs.ts';
import { CLI, request, startProxy, startUpstream, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess, Upstream } from '../helpers.ts';
import { checkConfig, checkConfigBytes } from '../../src/config/check.ts';
import { ConfigInvalidError } from '../../src/errors.ts';

function httpsGet(
  port: number,
  path: string,
  options: { host: string; agent?: https.Agent },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: options.host,
        headers: { host: options.host },
        rejectUnauthorized: false,
        agent: options.agent ?? false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
  });
}

describe('TLS listeners', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let a: TestCertificate, wild: TestCertificate, other: TestCertificate;
  let up: Upstream;
  let raw: RecordingUpstream;
  let proxy: ProxyProcess;
  let configPath: string;
  const seen: { proto?: string; host?: string | undefined }[] = [];

  const config = (certs: TestCertificate[]) => `listeners:
  - address: 127.0.0.1:0
    tls: true
  - address: 127.0.0.1:0
admin:
  socket: ''
health:
  address: 127.0.0.1:0
tls:
  certificates:
${certs.map((c) => `    - { cert_file: ${c.certFile}, key_file: ${c.keyFile} }`).join('\n')}
sites:
  - name: secure
    hosts: [a.example, "*.w.example"]
    https_redirect: true
    routes:
      - { path: /, upstream: "${up.url}" }
      - { path: /raw/, upstream: "${raw.url}" }
`;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    a = makeCertificate(dir, 'a', ['a.example']);
    wild = makeCertificate(dir, 'wild', ['*.w.example']);
    other = makeCertificate(dir, 'other', ['a.example']);
    up = await startUpstream('up', (req, res) => {
      seen.push({ proto: req.headers['x-forwarded-proto'] as string, host: req.headers.host });
      if (req.url === '/echo') {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => res.end(`echo:${body}`));
        return;
      }
      res.end('secure hello');
    });
    const wss = new WebSocketServer({ server: up.server });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
    raw = await startRecordingUpstream();
    configPath = join(dir, 'proxy.yaml');
    await writeFile(configPath, config([a, wild]));
    proxy = await startProxy(configPath);
  });

  after(async () => {
    await proxy.stop();
    up.server.close();
    await raw.close();
    await cleanup();
  });

  const tlsPort = () => {
    const first = (proxy.logs.find((l) => l.msg === 'proxy started')?.listeners as string[])[0];
    return Number(first?.slice(first.lastIndexOf(':') + 1));
  };
  const plainPort = () => {
    const second = (proxy.logs.find((l) => l.msg === 'proxy started')?.listeners as string[])[1];
    return Number(second?.slice(second.lastIndexOf(':') + 1));
  };

  it('picks the certificate by SNI: exact, wildcard, and the first for no SNI or no match', async () => {
    assert.equal(await servedName(tlsPort(), 'a.example'), 'a.example');
    assert.equal(await servedName(tlsPort(), 'x.w.example'), '*.w.example');
    assert.equal(await servedName(tlsPort()), 'a.example');
    assert.equal(await servedName(tlsPort(), 'unknown.example'), 'a.example');
  });

  it('proxies over TLS end to end and tells the upstream the scheme was https', async () => {
    const reply = await httpsGet(tlsPort(), '/hello', { host: 'a.example' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'secure hello');
    assert.equal(seen.at(-1)?.proto, 'https');
  });

  it('speaks HTTP/2 by ALPN and proxies GET and a POST body end to end', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort()}`, {
      servername: 'a.example',
      rejectUnauthorized: false,
    });
    const exchange = (headers: http2.OutgoingHttpHeaders, body?: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const stream = session.request(headers);
        let status = 0;
        let text = '';
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('data', (d: Buffer) => (text += d.toString()));
        stream.on('end', () => resolve({ status, text }));
        stream.on('error', reject);
        stream.end(body);
      });
    try {
      const [get, post, none, bad] = await Promise.all([
        exchange({ ':method': 'GET', ':path': '/h2', ':authority': 'a.example' }),
        exchange({ ':method': 'POST', ':path': '/echo', ':authority': 'x.w.example' }, 'h2 body'),
        exchange({ ':method': 'GET', ':path': '/', ':authority': 'nobody.example' }),
        exchange({ ':method': 'GET', ':path': '/a/%2e%2e/b', ':authority': 'a.example' }),
      ]);
      assert.equal(none.status, 404, 'the same routing and error responses as HTTP/1.1');
      assert.match(none.text, /"error":"no_route"/);
      assert.equal(bad.status, 400);
      assert.equal(session.alpnProtocol, 'h2');
      assert.deepEqual(get, { status: 200, text: 'secure hello' });
      assert.deepEqual(post, { status: 200, text: 'echo:h2 body' });
      const viaH2 = seen.filter((s) => s.proto === 'https' && s.host !== undefined);
      assert.ok(
        viaH2.some((s) => s.host === 'a.example'),
        'the authority became the Host',
      );
    } finally {
      session.close();
    }
  });

  it('HTTP/2: the upstream sees a plain HTTP/1.1 request, no pseudo-header, a framed body', async () => {
    const session = http2.connect(`https://127.0.0.1:${tlsPort()}`, {
      servername: 'a.example',
      rejectUnauthorized: false,
    });
    const send = (headers: http2.OutgoingHttpHeaders, body?: string) =>
      new Promise<number>((resolve, reject) => {
        const stream = session.request(headers);
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end(body);
      });
    try {
      const before = raw.requests.length;
      assert.equal(
        await send({ ':method': 'POST', ':path': '/raw/p?q=1', ':authority': 'a.example' }, 'abc'),
        200,
      );
      const seen = raw.requests[before];
      assert.equal(seen?.method, 'POST');
      assert.equal(seen?.target, '/raw/p?q=1');
      assert.equal(seen?.header('host'), 'a.example');
      assert.equal(seen?.body.toString(), 'abc');
      assert.ok(
        seen?.header('content-length') === '3' || seen?.header('transfer-encoding') === 'chunked',
      );
      assert.deepEqual(
        seen?.headers.filter(([n]) => n.startsWith(':')),
        [],
        'no pseudo-header crosses to HTTP/1.1',
      );
      // A Host that contradicts :authority is refused, as two Host headers are.
      const status = await send({
        ':method': 'GET',
        ':path': '/raw/h',
        ':authority': 'a.example',
        host: 'evil.example',
      });
      assert.equal(status, 400);
      assert.equal(raw.requests.length, before + 1, 'nothing else reached the upstream');
    } finally {
      session.close();
    }
  });

  it('HTTP/1.1 over TLS: a Connection-named Content-Length smuggles nothing', async () => {
    const before = raw.requests.length;
    const second = 'GET /raw/admin HTTP/1.1\r\nHost: internal\r\n\r\n';
    const socket = tls.connect({
      host: '127.0.0.1',
      port: tlsPort(),
      servername: 'a.example',
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.write(
      'GET /raw/x HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\n' +
        `Connection: content-length\r\nContent-Length: ${second.length}\r\n\r\n${second}`,
    );
    await eventually('the response', () => /HTTP\/1\.1 200/.test(text) || undefined);
    socket.destroy();
    assert.equal(raw.requests.length, before + 1, 'one request upstream');
    assert.equal(raw.requests[before]?.body.toString(), second);
    assert.equal(raw.requests[before]?.header('x-forwarded-proto'), 'https');
  });

  it('keeps WebSocket working over HTTP/1.1 on the TLS listener', async () => {
    const socket = new WebSocket(`wss://127.0.0.1:${tlsPort()}/ws`, {
      headers: { host: 'a.example' },
      rejectUnauthorized: false,
    });
    const reply = await new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send('ping'));
      socket.on('message', (data: Buffer) => resolve(data.toString()));
      socket.on('error', reject);
    });
    socket.close();
    assert.equal(reply, 'echo:ping');
  });

  it('redirects plain HTTP for an https_redirect site with 308, path and query kept', async () => {
    const reply = await request(`http://127.0.0.1:${plainPort()}/x/y?z=1`, {
      host: 'a.example:8080',
    });
    assert.equal(reply.status, 308);
    assert.equal(reply.headers.location, 'https://a.example/x/y?z=1');
  });

  it('exports each certificate expiry, labelled by file', async () => {
    const text = (await request(`${proxy.healthUrl}/metrics`)).body;
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('reverse_proxy_tls_certificate_not_after_timestamp_seconds{') &&
          l.includes(a.certFile),
      );
    assert.ok(line, text);
    const seconds = Number(line.split(' ').at(-1));
    assert.ok(seconds > Date.now() / 1000, 'in the future');
  });

  it('applies a reload whose pair broke: the version loaded before keeps serving, and it says so', async () => {
    const keep = readFileSync(a.keyFile);
    // The same two files, a key that no longer matches (a botched renewal).
    copyFileSync(wild.keyFile, a.keyFile);
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.match(
      JSON.stringify(outcome.certificate_warnings),
      /tls.certificates\[0\].key_file: the key in .* does not match the certificate in .*; serving the version loaded before/,
    );
    assert.equal(await servedName(tlsPort(), 'a.example'), 'a.example');
    const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(metrics, /^reverse_proxy_tls_certificate_warnings 1$/m);
    writeFileSync(a.keyFile, keep);
    assert.match(String((await proxy.reload()).msg), /^reload(: config unchanged| applied)$/);
    const after = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
    assert.match(after, /^reverse_proxy_tls_certificate_warnings 0$/m);
  });

  it('rotates certificates on reload without cutting an open keep-alive connection', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await httpsGet(tlsPort(), '/1', { host: 'a.example', agent })).status, 200);
    // The same file names, new bytes (as cert-manager and the kubelet do): the config is
    // unchanged, and the reload still re-reads the files.
    copyFileSync(other.certFile, a.certFile);
    copyFileSync(other.keyFile, a.keyFile);
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.equal(outcome.certificates_changed, true);
    assert.equal((await httpsGet(tlsPort(), '/2', { host: 'a.example', agent })).status, 200);
    const sockets =
      Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length;
    assert.equal(sockets, 1, 'the connection opened before the reload carried the second request');
    const fresh = tls.connect({
      host: '127.0.0.1',
      port: tlsPort(),
      servername: 'a.example',
      rejectUnauthorized: false,
    });
    await new Promise((resolve) => fresh.once('secureConnect', resolve));
    const served = fresh.getPeerCertificate().raw;
    fresh.destroy();
    const expected = pemBody(readFileSync(other.certFile, 'latin1'));
    assert.equal(served.toString('base64'), expected, 'new handshakes get the new certificate');
    agent.destroy();
  });
});

describe('certificate validation (validate, serve, reload and the sidecar share it)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tmpDir()));
  after(async () => cleanup());

  const issues = (certificates: string, listenerTls = true) => {
    const yaml = `listeners:\n  - address: 127.0.0.1:8443\n    tls: ${listenerTls}\ntls:\n  certificates:${certificates}\nsites: []\n`;
    try {
      checkConfigBytes(Buffer.from(yaml), 'test.yaml', { allowWildcardBind: false });
    } catch (err) {
      if (err instanceof ConfigInvalidError)
        return err.issues.map((i) => `${i.path}: ${i.message}`);
      throw err;
    }
    return [];
  };

  it('fails a start only for pairs that leave their names unserved, and warns of the rest', async () => {
    const good = makeCertificate(dir, 'good', ['good.example']);
    const otherKey = makeCertificate(dir, 'otherkey', ['x.example']);
    const expired = makeCertificate(dir, 'expired', ['old.example'], { expired: true });
    const notPem = join(dir, 'not.pem');
    await writeFile(notPem, 'hello\n');
    const list = (entries: string[]) => entries.map((e) => `\n    - ${e}`).join('');
    // Unreadable and not PEM: their names cannot be known, so nothing is known to serve them.
    const found = issues(
      list([
        `{ cert_file: ${dir}/missing.crt, key_file: ${good.keyFile} }`,
        `{ cert_file: ${notPem}, key_file: ${good.keyFile} }`,
        `{ cert_file: ${good.certFile}, key_file: ${otherKey.keyFile} }`,
        `{ cert_file: ${expired.certFile}, key_file: ${expired.keyFile} }`,
        `{ cert_file: ${good.certFile}, key_file: ${good.keyFile} }`,
      ]),
    );
    assert.deepEqual(found, [
      `tls.certificates[0].cert_file: cannot read ${dir}/missing.crt: ENOENT`,
      `tls.certificates[1].cert_file: ${notPem} is not a PEM certificate`,
    ]);
    // Without those two: the mismatched pair's name is served by the good pair, the expired
    // one is served anyway. Both are warnings, and the config loads.
    const yaml = `listeners:\n  - address: 127.0.0.1:8443\n    tls: true\ntls:\n  certificates:${list(
      [
        `{ cert_file: ${good.certFile}, key_file: ${otherKey.keyFile} }`,
        `{ cert_file: ${expired.certFile}, key_file: ${expired.keyFile} }`,
        `{ cert_file: ${good.certFile}, key_file: ${good.keyFile} }`,
      ],
    )}\nsites: []\n`;
    const { certificates } = checkConfig(Buffer.from(yaml), 'test.yaml', {
      allowWildcardBind: false,
    });
    assert.deepEqual(
      certificates.warnings.map((i) => `${i.path}: ${i.message}`),
      [
        `tls.certificates[1].cert_file: the certificate in ${expired.certFile} expired on 2020-01-02T00:00:00.000Z; served anyway`,
        `tls.certificates[0].key_file: the key in ${otherKey.keyFile} does not match the certificate in ${good.certFile}; not served`,
      ],
    );
    assert.deepEqual(
      certificates.list.map((c) => c.certFile),
      [expired.certFile, good.certFile],
    );
    // A mismatched pair whose name nothing else serves fails the start.
    assert.deepEqual(
      issues(list([`{ cert_file: ${otherKey.certFile}, key_file: ${good.keyFile} }`])),
      [
        `tls.certificates[0].key_file: the key in ${good.keyFile} does not match the certificate in ${otherKey.certFile}`,
      ],
    );
  });

  it('refuses a TLS listener without a certificate', () => {
    assert.deepEqual(issues(' []'), [
      'listeners[0].tls: needs at least one certificate in tls.certificates',
    ]);
  });
});

function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}

describe(
  'HTTP/2: slow request bodies are cut per stream, not per session',
  { timeout: 30_000 },
  () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let up: Upstream;
    let proxy: ProxyProcess;
    /** The upstream's view of each request: did its body complete, did it close? */
    const upstreamSeen = new Map<string, { complete: boolean; closed: boolean }>();

    before(async () => {
      ({ dir, cleanup } = await tmpDir());
      const cert = makeCertificate(dir, 'a', ['a.example']);
      up = await startUpstream('up', (req, res) => {
        const entry = { complete: false, closed: false };
        upstreamSeen.set(String(req.url), entry);
        req.on('close', () => (entry.closed = true));
        // /early answers its headers before the body is in: the proxy has then sent a response.
        if (req.url?.startsWith('/early')) res.writeHead(200).flushHeaders();
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          entry.complete = true;
          res.end(`got:${body}`);
        });
      });
      const configPath = join(dir, 'proxy.yaml');
      // A small idle timeout so those tests take a second or two; the rate rule is measured
      // over a fixed 10 s stretch, so its test takes that long.
      await writeFile(
        configPath,
        `listeners:
  - address: 127.0.0.1:0
    tls: true
admin:
  socket: ''
health:
  address: 127.0.0.1:0
client:
  body_idle_timeout_ms: 1000
  body_min_rate_bytes_per_s: 512
tls:
  certificates:
    - { cert_file: ${cert.certFile}, key_file: ${cert.keyFile} }
sites:
  - name: a
    hosts: [a.example]
    routes:
      - { path: /, upstream: "${up.url}" }
`,
      );
      proxy = await startProxy(configPath);
    });

    after(async () => {
      await proxy.stop();
      await up.close();
      await cleanup();
    });

    interface Outcome {
      status: number;
      text: string;
      rstCode: number | undefined;
      error: string | undefined;
    }
    /** One stream: sends `first`, then the rest only if `rest` is given (else idles). */
    const exchange = (
      session: http2.ClientHttp2Session,
      path: string,
      first?: string,
      rest?: string,
    ): { stream: http2.ClientHttp2Stream; done: Promise<Outcome> } => {
      const method = first === undefined ? 'GET' : 'POST';
      const stream = session.request({
        ':method': method,
        ':path': path,
        ':authority': 'a.example',
      });
      const done = new Promise<Outcome>((resolve) => {
        const outcome: Outcome = { status: 0, text: '', rstCode: undefined, error: undefined };
        stream.on('response', (h) => (outcome.status = Number(h[':status'])));
        stream.on('data', (d: Buffer) => (outcome.text += d.toString()));
        stream.on('error', (err) => (outcome.error = (err as NodeJS.ErrnoException).code));
        stream.on('close', () => resolve({ ...outcome, rstCode: stream.rstCode }));
      });
      if (first === undefined) stream.end();
      else if (rest === undefined) stream.write(first);
      else {
        stream.write(first);
        stream.end(rest);
      }
      return { stream, done };
    };

    const connect = () =>
      http2.connect(`https://127.0.0.1:${proxy.port}`, {
        servername: 'a.example',
        rejectUnauthorized: false,
      });

    it('answers 408 on an idle stream, frees its upstream exchange, and keeps the session', async () => {
      const session = connect();
      try {
        const slow = exchange(session, '/idle', 'a few bytes');
        await eventually('the upstream got the slow request', () => upstreamSeen.get('/idle'));
        const cut = await slow.done;
        assert.equal(cut.status, 408, JSON.stringify(cut));
        assert.match(cut.text, /"error":"body_timeout"/);
        assert.equal(cut.rstCode, http2.constants.NGHTTP2_NO_ERROR);
        await eventually('the upstream exchange is released', () =>
          upstreamSeen.get('/idle')?.closed === true ? true : undefined,
        );
        assert.equal(upstreamSeen.get('/idle')?.complete, false, 'no truncated body upstream');
        // The same session carries on: a GET and a POST whose body arrives at once.
        assert.equal(session.destroyed || session.closed, false, 'the session survived');
        const [get, post] = await Promise.all([
          exchange(session, '/after').done,
          exchange(session, '/post', 'one ', 'two').done,
        ]);
        assert.deepEqual([get.status, get.text], [200, 'got:']);
        assert.deepEqual([post.status, post.text], [200, 'got:one two']);
        const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
        assert.match(metrics, /reverse_proxy_client_timeouts_total\{phase="body_idle"\} [1-9]/);
        assert.ok(
          !proxy.logs.some((l) => l.msg === 'upstream request failed'),
          'a slow client is not an upstream failure',
        );
      } finally {
        session.close();
      }
    });

    it('resets just the stream (CANCEL) when its response had already started', async () => {
      const session = connect();
      try {
        const slow = exchange(session, '/early', 'a few bytes');
        const healthy = exchange(session, '/meanwhile', 'x');
        // A stream that keeps sending is not cut while the idle one is.
        const keepSending = setInterval(() => healthy.stream.write('x'), 200);
        const cut = await slow.done;
        clearInterval(keepSending);
        assert.equal(cut.status, 200, 'the upstream headers had gone out');
        assert.equal(cut.rstCode, http2.constants.NGHTTP2_CANCEL, JSON.stringify(cut));
        await eventually('the upstream exchange is released', () =>
          upstreamSeen.get('/early')?.closed === true ? true : undefined,
        );
        assert.equal(upstreamSeen.get('/early')?.complete, false, 'no truncated body upstream');
        healthy.stream.end('!');
        const done = await healthy.done;
        assert.equal(done.status, 200);
        assert.match(done.text, /^got:x+!$/);
        assert.ok(!proxy.logs.some((l) => l.msg === 'upstream request failed'));
      } finally {
        session.close();
      }
    });

    it('cuts a stream that is never idle but trickles below the minimum rate', async () => {
      const session = connect();
      try {
        const slow = exchange(session, '/trickle', 'x');
        // A byte every 400 ms: never idle for body_idle_timeout_ms, far below 512 B/s.
        const trickle = setInterval(() => slow.stream.write('x'), 400);
        const cut = await slow.done;
        clearInterval(trickle);
        assert.equal(cut.status, 408, JSON.stringify(cut));
        assert.equal(upstreamSeen.get('/trickle')?.complete, false, 'no truncated body upstream');
        const after = await exchange(session, '/after-trickle', 'fine', '!').done;
        assert.deepEqual([after.status, after.text], [200, 'got:fine!']);
        const metrics = (await request(`${proxy.healthUrl}/metrics`)).body;
        assert.match(metrics, /reverse_proxy_client_timeouts_total\{phase="body_rate"\} [1-9]/);
      } finally {
        session.close();
      }
    });
  },
);

describe('an expired certificate is no outage', () => {
  it('starts and serves it with a warning; validate warns, and --strict exits 1', async () => {
    const { dir, cleanup } = await tmpDir();
    const up = await startUpstream('up');
    const expired = makeCertificate(dir, 'old', ['old.example'], { expired: true });
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
    tls: true
admin:
  socket: ''
health:
  address: 127.0.0.1:0
tls:
  certificates:
    - { cert_file: ${expired.certFile}, key_file: ${expired.keyFile} }
sites:
  - name: s
    hosts: ["*"]
    routes:
      - { path: /, upstream: "${up.url}" }
`,
    );
    const proxy = await startProxy(path);
    try {
      const warned = await proxy.waitForLog((l) => l.certificate_warnings !== undefined, {
        includePast: true,
      });
      assert.equal(warned.level, 'warn');
      assert.match(JSON.stringify(warned.certificate_warnings), /expired on .*; served anyway/);
      assert.equal(await servedName(proxy.port, 'old.example'), 'old.example');
      const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
      assert.match(metrics, /^reverse_proxy_tls_certificate_warnings 1$/m);
      const validate = (...flags: string[]) =>
        spawnSync(process.execPath, [CLI, 'validate', '-c', path, ...flags], { encoding: 'utf8' });
      const plain = validate();
      assert.equal(plain.status, 0);
      assert.match(plain.stdout, /: ok \(1 site\(s\), sha256 [0-9a-f]{64}, 1 warning\(s\)\)/);
      assert.match(
        plain.stderr,
        /: warning: tls\.certificates\[0\]\.cert_file: the certificate in .* expired on 2020-01-02T00:00:00\.000Z; served anyway/,
      );
      assert.equal(validate('--strict').status, 1);
    } finally {
      await proxy.stop();
      await up.close();
      await cleanup();
    }
  });
});

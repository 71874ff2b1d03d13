import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSync } from 'bcryptjs';
import { rawExchange, startRecordingUpstream } from '../raw-http.ts';
import type { RecordingUpstream } from '../raw-http.ts';
import { CLI, request, startProxy, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess } from '../helpers.ts';
import { closedPort } from '../upstream-servers.ts';
import { pidsServingPort } from '../proc-sockets.ts';

const NOT_FOUND = '<!doctype html><title>Not here</title><p>Nothing at this address.</p>\n';
const DOWN = '<!doctype html><title>Down</title><p>Back soon.</p>\n';
const OOPS = '{"error":"oops"}\n';
const DENIED = 'Sign in first.\n';
const ALICE = `alice:$2y$${hashSync('secret', 5).slice(4)}\n`;

/** The upstream answers 404 itself for /missing/ (a page the proxy must relay untouched). */
const UPSTREAM_404 =
  'HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\r\nupstream!';

function yaml(up: string, down: string, pages: Record<string, string>): string {
  const entries = Object.entries(pages)
    .map(([status, path]) => `      "${status}": ${path}\n`)
    .join('');
  return `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ''
health:
  address: 127.0.0.1:0
log:
  access_log: true
sites:
  - name: app
    hosts: [app.test]
    error_pages:
${entries}    routes:
      - { path: /app/, upstream: "${up}" }
      - { path: /down/, upstream: "${down}" }
      - path: /private/
        upstream: "${up}"
        access: { basic_auth: { realm: app, htpasswd_file: PASSWD } }
      - path: /slow/
        upstream: "${up}"
        rate_limit: { requests_per_second: 0.1, burst: 1 }
      - path: /small/
        upstream: "${up}"
        max_body_bytes: 10
  - name: plain
    hosts: [plain.test]
    routes:
      - { path: /app/, upstream: "${up}" }
`;
}

/**
 * Issue 21: a site's `error_pages` replace the bodies of the answers the proxy makes itself,
 * keeping their status and headers; an upstream's own errors pass untouched.
 */
describe('error_pages', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let up: RecordingUpstream;
  let proxy: ProxyProcess;
  let configPath: string;
  let pages: Record<string, string>;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    up = await startRecordingUpstream((r) =>
      r.target.startsWith('/app/missing')
        ? UPSTREAM_404
        : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
    );
    const down = `http://127.0.0.1:${await closedPort()}`;
    pages = {
      '404': join(dir, '404.html'),
      '5xx': join(dir, 'down.html'),
      '502': join(dir, '502.json'),
      '401': join(dir, 'denied.txt'),
      '4xx': join(dir, '404.html'),
    };
    await writeFile(pages['404'] as string, NOT_FOUND);
    await writeFile(pages['5xx'] as string, DOWN);
    await writeFile(pages['502'] as string, OOPS);
    await writeFile(pages['401'] as string, DENIED);
    await writeFile(join(dir, 'htpasswd'), ALICE);
    configPath = join(dir, 'proxy.yaml');
    await writeConfig(
      configPath,
      yaml(up.url, down, pages).replace('PASSWD', join(dir, 'htpasswd')),
    );
    proxy = await startProxy(configPath);
  });

  after(async () => {
    await proxy.stop();
    await up.close();
    await cleanup();
  });

  it('serves the 404 page for a path no route of the site matches, with its status, type and request id', async () => {
    const reply = await request(`${proxy.url}/nowhere`, { host: 'app.test' });
    assert.equal(reply.status, 404);
    assert.equal(reply.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(reply.headers['content-length'], String(Buffer.byteLength(NOT_FOUND)));
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.match(String(reply.headers['x-request-id']), /^[0-9a-f-]{16,}$/);
    assert.equal(reply.body, NOT_FOUND);
    const line = await proxy.waitForLog(
      (l) => l.msg === 'request' && l.request_id === reply.headers['x-request-id'],
      { includePast: true },
    );
    assert.equal(line.bytes_sent, Buffer.byteLength(NOT_FOUND), 'bytes_sent is the page');
  });

  it('keeps the JSON for a site without pages, and for a host no site serves', async () => {
    for (const host of ['plain.test', 'nobody.test']) {
      const reply = await request(`${proxy.url}/nowhere`, { host });
      assert.equal(reply.status, 404);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.equal(JSON.parse(reply.body).error, 'no_route');
    }
  });

  it('relays an upstream 404 untouched: only the proxy’s own answers get a page', async () => {
    const reply = await request(`${proxy.url}/app/missing`, { host: 'app.test' });
    assert.equal(reply.status, 404);
    assert.equal(reply.headers['content-type'], 'text/plain');
    assert.equal(reply.body, 'upstream!');
  });

  it('serves the 502 page (a status over its class) when the upstream is down', async () => {
    const reply = await request(`${proxy.url}/down/x`, { host: 'app.test' });
    assert.equal(reply.status, 502);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.equal(reply.body, OOPS);
    assert.ok(reply.headers['x-request-id']);
    const line = await proxy.waitForLog(
      (l) => l.msg === 'request' && l.request_id === reply.headers['x-request-id'],
      { includePast: true },
    );
    assert.equal(line.status, 502);
    assert.equal(line.bytes_sent, Buffer.byteLength(OOPS));
  });

  it('keeps WWW-Authenticate on the 401 page', async () => {
    const reply = await request(`${proxy.url}/private/`, { host: 'app.test' });
    assert.equal(reply.status, 401);
    assert.equal(reply.headers['www-authenticate'], 'Basic realm="app", charset="UTF-8"');
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(reply.body, DENIED);
  });

  it('keeps Retry-After on the 429 page (the 4xx class page)', async () => {
    assert.equal((await request(`${proxy.url}/slow/`, { host: 'app.test' })).status, 200);
    const reply = await request(`${proxy.url}/slow/`, { host: 'app.test' });
    assert.equal(reply.status, 429);
    assert.match(String(reply.headers['retry-after']), /^\d+$/);
    assert.equal(reply.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(reply.body, NOT_FOUND);
  });

  it('serves the 413 page (the 4xx class) for a body over max_body_bytes, by Content-Length or cut mid-stream', async () => {
    const declared = await rawExchange(
      proxy.port,
      `POST /small/ HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\n${'x'.repeat(100)}`,
    );
    assert.deepEqual(declared.statuses, [413]);
    assert.ok(declared.text.endsWith(`\r\n\r\n${NOT_FOUND}`), declared.text);
    const chunk = 'x'.repeat(40);
    const streamed = await rawExchange(
      proxy.port,
      `POST /small/ HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assert.deepEqual(streamed.statuses, [413]);
    assert.match(streamed.text, /\r\ncontent-type: text\/html; charset=utf-8\r\n/i);
    assert.ok(streamed.text.endsWith(NOT_FOUND), streamed.text);
  });

  it('answers HEAD with the page’s Content-Length and no body', async () => {
    const reply = await rawExchange(
      proxy.port,
      'HEAD /nowhere HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n',
    );
    assert.deepEqual(reply.statuses, [404]);
    assert.match(
      reply.text,
      new RegExp(`\r\ncontent-length: ${Buffer.byteLength(NOT_FOUND)}\r\n`, 'i'),
    );
    assert.ok(reply.text.endsWith('\r\n\r\n'), 'no body after the head');
  });

  it('serves the new page after a reload re-reads a changed file (the config unchanged)', async () => {
    const changed = '<!doctype html><title>Moved</title>\n';
    await writeConfig(pages['404'] as string, changed);
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.equal(outcome.error_pages_changed, true);
    const reply = await request(`${proxy.url}/nowhere`, { host: 'app.test' });
    assert.equal(reply.body, changed);
    await writeConfig(pages['404'] as string, NOT_FOUND);
    assert.equal((await proxy.reload()).msg, 'reload applied');
  });

  it('keeps the last good page, with a warning, when a page file breaks on a reload', async () => {
    await writeFile(pages['5xx'] as string, Buffer.from([0xff, 0xfe, 0x00]));
    const outcome = await proxy.reload();
    assert.equal(outcome.msg, 'reload applied');
    assert.match(
      String((outcome.error_page_warnings as string[])[0]),
      /^sites\[0\]\.error_pages\.5xx: .*down\.html is not valid UTF-8 .*; the page loaded before stays in force$/,
    );
    const reply = await request(`${proxy.url}/down/`, { host: 'app.test', method: 'PUT' });
    assert.equal(reply.status, 502);
    assert.equal(reply.body, OOPS, '502 has its own page');
    await writeFile(pages['5xx'] as string, DOWN);
    assert.equal((await proxy.reload()).msg, 'reload applied');
  });
});

describe('error_pages with workers', () => {
  it('are served by every worker, from the files the primary read', async () => {
    const { dir, cleanup } = await tmpDir();
    const up = await startRecordingUpstream();
    const page = join(dir, 'gone.html');
    await writeFile(page, NOT_FOUND);
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
admin:
  socket: ''
health:
  address: 127.0.0.1:0
sites:
  - name: app
    hosts: [app.test]
    error_pages: { 404: ${page} }
    routes:
      - { path: /app/, upstream: "${up.url}" }
`,
    );
    const proxy = await startProxy(path, ['--workers', '2']);
    const primary = proxy.child.pid as number;
    const workers = readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8')
      .trim()
      .split(' ')
      .map(Number);
    assert.equal(workers.length, 2);
    /** 30 requests on connections held open at once, and the kernel says who served them. */
    const served = async (body: string) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 30 });
      const replies = await Promise.all(
        Array.from({ length: 30 }, () => request(`${proxy.url}/x`, { host: 'app.test', agent })),
      );
      const counts = pidsServingPort(proxy.port, workers);
      agent.destroy();
      assert.deepEqual(
        new Set(replies.map((r) => `${r.status} ${r.body}`)),
        new Set([`404 ${body}`]),
      );
      for (const pid of workers) assert.ok((counts.get(pid) ?? 0) > 0, `${pid}: ${[...counts]}`);
    };
    try {
      await served(NOT_FOUND);
      await writeConfig(page, DOWN);
      assert.equal((await proxy.reload()).msg, 'reload applied');
      await served(DOWN);
    } finally {
      await proxy.stop();
      await up.close();
      await cleanup();
    }
  });
});

describe('error_pages and validate', () => {
  it('refuses a missing, relative, too large, non-UTF-8 or wrongly typed page, and a status the proxy does not answer itself', async () => {
    const { dir, cleanup } = await tmpDir();
    try {
      const path = join(dir, 'proxy.yaml');
      const good = join(dir, 'ok.html');
      await writeFile(good, NOT_FOUND);
      const big = join(dir, 'big.html');
      await writeFile(big, 'x'.repeat(64 * 1024 + 1));
      const bad = join(dir, 'bad.json');
      await writeFile(bad, '{nope');
      const latin1 = join(dir, 'latin1.txt');
      await writeFile(latin1, Buffer.from('caf\xe9\n', 'latin1'));
      const check = async (pages: string) => {
        await writeConfig(
          path,
          `listeners:
  - address: 127.0.0.1:8080
sites:
  - name: app
    hosts: [app.test]
    error_pages: { ${pages} }
    routes:
      - { path: /, upstream: "http://127.0.0.1:9" }
`,
        );
        return spawnSync(process.execPath, [CLI, 'validate', '-c', path], { encoding: 'utf8' });
      };
      assert.equal((await check(`404: ${good}, 5xx: ${good}`)).status, 0);
      const cases: [string, string][] = [
        [
          `404: ${dir}/missing.html`,
          `sites[0].error_pages.404: cannot read ${dir}/missing.html: ENOENT`,
        ],
        ['502: pages/down.html', 'sites[0].error_pages.502: must be an absolute path'],
        [
          `503: ${big}`,
          `sites[0].error_pages.503: ${big} is 65537 bytes, over the 65536-byte limit`,
        ],
        [
          `5xx: ${bad}`,
          `sites[0].error_pages.5xx: ${bad} is not valid JSON (it is served as application/json)`,
        ],
        [
          `413: ${latin1}`,
          `sites[0].error_pages.413: ${latin1} is not valid UTF-8 (it is served as text/plain; charset=utf-8)`,
        ],
        [
          `404: ${dir}/page.php`,
          'sites[0].error_pages.404: must end in .html, .htm, .json or .txt',
        ],
        [
          `200: ${good}`,
          'sites[0].error_pages.200: is not a status the proxy answers itself once the site is known (401, 403, 404, 413, 429, 502, 503, 504, 4xx or 5xx)',
        ],
        [`700: ${good}`, 'sites[0].error_pages.700: is not a status the proxy answers itself'],
        [`400: ${good}`, 'sites[0].error_pages.400: is not a status the proxy answers itself'],
      ];
      for (const [pages, message] of cases) {
        const result = await check(pages);
        assert.equal(result.status, 1, pages);
        assert.ok(result.stderr.includes(message), `${pages}: ${result.stderr}`);
      }
    } finally {
      await cleanup();
    }
  });
});

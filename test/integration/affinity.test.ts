import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { makeCertificate } from '../certs.ts';
import { request, startProxy, startUpstream, tmpDir, writeConfig } from '../helpers.ts';
import type { ProxyProcess, Reply, Upstream } from '../helpers.ts';
import { eventually } from '../sidecar-process.ts';
import { startCounting } from '../upstream-servers.ts';
import type { CountingUpstream } from '../upstream-servers.ts';

/** Three upstreams that say who they are, in answers and in WebSocket handshakes. */
async function pool(prefix: string): Promise<Upstream[]> {
  const ups = await Promise.all([0, 1, 2].map((i) => startUpstream(`${prefix}${i}`)));
  for (const up of ups) {
    up.server.on('upgrade', (_req, socket: net.Socket) => {
      socket.end(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Up: ${up.name}\r\n\r\n`,
      );
    });
  }
  return ups;
}

const upstreamsYaml = (ups: readonly Upstream[]) =>
  ups.map((u) => `          - url: "${u.url}"`).join('\n');

/** Who answered: the upstream's name, the first word of its body. */
const who = (reply: Reply) => reply.body.split(' ')[0];
/** The value of the `name` cookie the response sets (undefined: none). */
const setValue = (reply: Reply, name: string): string | undefined => {
  for (const line of reply.headers['set-cookie'] ?? []) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(line);
    if (m !== null) return m[1];
  }
  return undefined;
};

/** A WebSocket handshake on a raw socket: the response head, as text. */
async function handshake(port: number, path: string, cookie: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${cookie}\r\n`,
  );
  let head = '';
  for await (const chunk of socket) {
    head += (chunk as Buffer).toString('latin1');
    if (head.includes('\r\n\r\n')) break;
  }
  socket.destroy();
  return head;
}

/**
 * Issue 21: `affinity: { cookie }`. Real upstreams that name themselves: a client without the
 * cookie is balanced and pinned; with it, it stays; a forged value is no cookie; a pinned
 * upstream that dies moves the client (by a retry, or after passive health ejects it) and the
 * answer re-pins it.
 */
describe('affinity: sticky to one upstream by a cookie', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sticky: Upstream[];
  let retried: Upstream[];
  let ejected: Upstream[];
  let single: Upstream;
  let checked: CountingUpstream[];
  let proxy: ProxyProcess;
  let tlsPort: number;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    [sticky, retried, ejected] = await Promise.all([pool('s'), pool('r'), pool('e')]);
    single = await startUpstream('one');
    checked = await Promise.all([0, 1, 2].map((i) => startCounting(`h${i}`)));
    const cert = makeCertificate(dir, 'a', ['a.test']);
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `listeners:
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
    tls: true
admin:
  socket: ''
health:
  address: 127.0.0.1:0
tls:
  certificates:
    - { cert_file: ${cert.certFile}, key_file: ${cert.keyFile} }
sites:
  - name: a
    hosts: [a.test]
    routes:
      - path: /
        affinity: { cookie: rp_s }
        upstreams:
${upstreamsYaml(sticky)}
      - path: /retry/
        affinity: { cookie: rp_r }
        retries: { attempts: 2, budget_percent: 100 }
        passive_health: { consecutive_failures: 0 }
        upstreams:
${upstreamsYaml(retried)}
      - path: /eject/
        affinity: { cookie: rp_e, max_age_s: 3600 }
        passive_health: { consecutive_failures: 1, ejection_ms: 600000 }
        upstreams:
${upstreamsYaml(ejected)}
      - path: /checked/
        affinity: { cookie: rp_h }
        health_check: { path: /healthz, interval_ms: 100, unhealthy_threshold: 1 }
        upstreams:
${upstreamsYaml(checked)}
      - path: /one/
        affinity: { cookie: rp_one }
        upstream: "${single.url}"
`,
    );
    proxy = await startProxy(path);
    const started = proxy.logs.find((l) => l.msg === 'proxy started');
    const second = (started?.listeners as string[])[1] as string;
    tlsPort = Number(second.slice(second.lastIndexOf(':') + 1));
  });

  after(async () => {
    await proxy.stop();
    for (const up of [...sticky, ...retried, ...ejected, single, ...checked]) await up.close();
    await cleanup();
  });

  const get = (path: string, cookie?: string, agent?: http.Agent) =>
    request(`${proxy.url}${path}`, {
      host: 'a.test',
      headers: cookie === undefined ? {} : { cookie },
      ...(agent === undefined ? {} : { agent }),
    });

  /** One cookie value per upstream of a route: requests without a cookie, balanced. */
  async function valuesOf(path: string, name: string): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    for (let i = 0; i < 6 && values.size < 3; i++) {
      const reply = await get(path);
      assert.equal(reply.status, 200);
      values.set(who(reply) as string, setValue(reply, name) as string);
    }
    assert.equal(values.size, 3, 'round robin reached every upstream');
    return values;
  }

  it('pins a client without the cookie: HttpOnly, SameSite=Lax, Path=/, an opaque value', async () => {
    const reply = await get('/page');
    assert.equal(reply.status, 200);
    const lines = reply.headers['set-cookie'] ?? [];
    assert.equal(lines.length, 1);
    assert.match(lines[0] as string, /^rp_s=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/);
    const value = setValue(reply, 'rp_s') as string;
    for (const up of sticky) assert.ok(!value.includes(String(up.port)), 'no port in it');
    assert.ok(!Buffer.from(value, 'base64url').toString('latin1').includes('127.0.0.1'));
  });

  it('keeps a pinned client on its upstream for 20 requests, with no Set-Cookie again', async () => {
    const values = await valuesOf('/page', 'rp_s');
    assert.equal(new Set(values.values()).size, 3, 'each upstream has its own value');
    for (const [name, value] of values) {
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => get('/page', `other=1; rp_s=${value}; last=2`)),
      );
      assert.deepEqual(
        replies.map((r) => `${r.status} ${who(r)}`),
        replies.map(() => `200 ${name}`),
      );
      assert.ok(replies.every((r) => r.headers['set-cookie'] === undefined));
    }
  });

  it('treats a forged or unknown value as no cookie: balanced, then pinned with a real value', async () => {
    const values = await valuesOf('/page', 'rp_s');
    const real = new Set(values.values());
    const forged = [
      'rp_s=AAAAAAAAAAAAAAAAAAAAAA',
      'rp_s=',
      `rp_s=${[...real][0]}x`,
      `xrp_s=${[...real][0]}`, // another cookie whose name ends like ours
      `rp_r=${[...real][0]}`,
    ];
    const reached = new Set<string>();
    for (const cookie of forged) {
      for (let i = 0; i < 3; i++) {
        const reply = await get('/page', cookie);
        assert.equal(reply.status, 200);
        reached.add(who(reply) as string);
        const value = setValue(reply, 'rp_s');
        assert.equal(value, values.get(who(reply) as string), `${cookie}: re-pinned`);
      }
    }
    assert.equal(reached.size, 3, 'balanced, not sent to one upstream');
  });

  it('reads the cookie from any of several Cookie headers (HTTP/2 splits them) and sets Secure over TLS', async () => {
    const values = await valuesOf('/page', 'rp_s');
    const [name, value] = [...values][1] as [string, string];
    const session = http2.connect(`https://127.0.0.1:${tlsPort}`, {
      servername: 'a.test',
      rejectUnauthorized: false,
    });
    const exchange = (cookies: string[]) =>
      new Promise<{ body: string; setCookie: string[] | undefined }>((resolve, reject) => {
        const headers: http2.OutgoingHttpHeaders = {
          ':method': 'GET',
          ':path': '/page',
          ':authority': 'a.test',
        };
        // Sent as separate header fields, as browsers do over HTTP/2 (RFC 9113 §8.2.3).
        if (cookies.length > 0) headers.cookie = cookies;
        const stream = session.request(headers);
        let body = '';
        let setCookie: string[] | undefined;
        stream.on('response', (h) => (setCookie = h['set-cookie']));
        stream.on('data', (d: Buffer) => (body += d.toString()));
        stream.on('end', () => resolve({ body, setCookie }));
        stream.on('error', reject);
        stream.end();
      });
    try {
      const pinned = await exchange(['a=1', `rp_s=${value}`, 'b=2']);
      assert.equal(pinned.body.split(' ')[0], name);
      assert.equal(pinned.setCookie, undefined);
      const fresh = await exchange([]);
      assert.match(fresh.setCookie?.[0] ?? '', /^rp_s=[A-Za-z0-9_-]{22}; .*; Secure$/);
    } finally {
      session.close();
    }
  });

  it('honours the cookie for WebSocket handshakes, and pins in the 101', async () => {
    const values = await valuesOf('/page', 'rp_s');
    const [name, value] = [...values][2] as [string, string];
    for (let i = 0; i < 3; i++) {
      const head = await handshake(proxy.port, '/ws', `Cookie: rp_s=${value}\r\n`);
      assert.match(head, /^HTTP\/1\.1 101 /);
      assert.match(head, new RegExp(`\\r\\nx-up: ${name}\\r\\n`, 'i'));
      assert.doesNotMatch(head, /set-cookie/i);
    }
    const fresh = await handshake(proxy.port, '/ws', '');
    const up = /\r\nx-up: (\w+)\r\n/i.exec(fresh)?.[1] as string;
    assert.match(fresh, new RegExp(`\\r\\nset-cookie: rp_s=${values.get(up)}; Path=/;`, 'i'));
  });

  it('moves a client whose upstream died to another by a retry, and re-pins it there', async () => {
    const values = await valuesOf('/retry/x', 'rp_r');
    const dead = retried[0] as Upstream;
    await dead.close();
    const moved = await get('/retry/x', `rp_r=${values.get(dead.name)}`);
    assert.equal(moved.status, 200, 'the retry reached a live upstream');
    assert.notEqual(who(moved), dead.name);
    const repinned = setValue(moved, 'rp_r');
    assert.equal(repinned, values.get(who(moved) as string), 'pinned to the one that answered');
    for (let i = 0; i < 5; i++) {
      const reply = await get('/retry/x', `rp_r=${repinned}`);
      assert.equal(who(reply), who(moved));
      assert.equal(reply.headers['set-cookie'], undefined);
    }
  });

  it('moves a client whose upstream passive health ejected, and re-pins it there', async (t) => {
    const values = await valuesOf('/eject/x', 'rp_e');
    const dead = ejected[1] as Upstream;
    await dead.close();
    const cookie = `rp_e=${values.get(dead.name)}`;
    // One connection, so one process, whose passive health saw the failure (with workers: N
    // each worker judges its upstreams by what it saw itself).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const failed = await get('/eject/x', cookie, agent);
    assert.equal(failed.status, 502, 'no retries on this route: the failure is answered');
    assert.equal(failed.headers['set-cookie'], undefined, 'an error of the proxy pins nothing');
    const moved = await get('/eject/x', cookie, agent);
    assert.equal(moved.status, 200, 'the ejected upstream is passed over');
    assert.notEqual(who(moved), dead.name);
    assert.match(
      (moved.headers['set-cookie'] ?? [])[0] ?? '',
      new RegExp(`^rp_e=${values.get(who(moved) as string)}; Path=/; Max-Age=3600; HttpOnly`),
    );
  });

  it('moves a client whose upstream the health check marked down, and re-pins it there', async () => {
    const values = await valuesOf('/checked/x', 'rp_h');
    const down = checked[2] as CountingUpstream;
    const cookie = `rp_h=${values.get(down.name)}`;
    assert.equal(who(await get('/checked/x', cookie)), down.name);
    down.setHealth(503);
    // Still serving requests: only the health check says it is down.
    const moved = await eventually('the pinned upstream passed over', async () => {
      const reply = await get('/checked/x', cookie);
      return who(reply) === down.name ? undefined : reply;
    });
    assert.equal(moved.status, 200);
    assert.equal(setValue(moved, 'rp_h'), values.get(who(moved) as string));
    down.setHealth(200);
  });

  it('sets no cookie on a route of one upstream: there is nothing to choose', async () => {
    const reply = await get('/one/');
    assert.equal(who(reply), 'one');
    assert.equal(reply.headers['set-cookie'], undefined);
  });
});

/** The pids of a process's children (its workers), from /proc. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

/**
 * Which of `pids` holds the proxy's end of the client connection `socket`: its inode in
 * /proc/net/tcp (local port: the proxy's, remote port: the client's), found among each pid's
 * descriptors. No response says which worker served it, by design; the kernel does.
 */
function holderOf(socket: net.Socket, proxyPort: number, pids: readonly number[]): number {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | undefined;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex(proxyPort)}`) && f[2]?.endsWith(`:${hex(socket.localPort ?? 0)}`)) {
      inode = f[9];
    }
  }
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        // closed while we looked
      }
    }
  }
  return 0;
}

describe('affinity with workers: 2', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ups: Upstream[];
  let proxy: ProxyProcess;

  before(async () => {
    ({ dir, cleanup } = await tmpDir());
    ups = await pool('w');
    const path = join(dir, 'proxy.yaml');
    await writeConfig(
      path,
      `workers: 2
listeners:
  - address: 127.0.0.1:0
admin:
  socket: ''
health:
  address: 127.0.0.1:0
sites:
  - name: a
    hosts: [a.test]
    routes:
      - path: /
        affinity: { cookie: rp_w }
        upstreams:
${upstreamsYaml(ups)}
`,
    );
    proxy = await startProxy(path, ['--workers', '2']);
  });

  after(async () => {
    await proxy.stop();
    for (const up of ups) await up.close();
    await cleanup();
  });

  const send = async (socket: net.Socket, cookie: string) => {
    socket.write(`GET / HTTP/1.1\r\nHost: a.test\r\n${cookie}Connection: close\r\n\r\n`);
    let text = '';
    for await (const chunk of socket) text += (chunk as Buffer).toString('latin1');
    return {
      name: /\r\n(w\d) GET \//.exec(text)?.[1] as string,
      value: /\r\nset-cookie: rp_w=([^;]+);/i.exec(text)?.[1],
    };
  };

  it("gives the same value for an upstream in every worker, and each honours the others' cookies", async () => {
    const workers = await eventually('two workers', () => {
      const pids = childrenOf(proxy.child.pid as number);
      return pids.length === 2 ? pids : undefined;
    });
    // Connections held open, sorted by the worker that accepted them (SO_REUSEPORT spreads
    // them), until each worker holds four.
    const held = new Map<number, net.Socket[]>(workers.map((pid) => [pid, []]));
    const all: net.Socket[] = [];
    try {
      await eventually('both workers hold four connections', async () => {
        const socket = net.connect(proxy.port, '127.0.0.1');
        await once(socket, 'connect');
        all.push(socket);
        const pid = await eventually(
          'the holder',
          () => holderOf(socket, proxy.port, workers) || undefined,
        );
        held.get(pid)?.push(socket);
        return [...held.values()].every((list) => list.length >= 4) ? true : undefined;
      });
      // Each worker pins two cookieless clients; its round robin starts at w0 like the other's.
      const learnt = new Map<string, Set<string>>();
      for (const list of held.values()) {
        for (const { name, value } of await Promise.all(list.slice(0, 2).map((s) => send(s, '')))) {
          learnt.set(name, (learnt.get(name) ?? new Set()).add(value as string));
        }
      }
      assert.equal(learnt.get('w0')?.size, 1, 'both workers gave w0 the same value');
      for (const values of learnt.values()) assert.equal(values.size, 1);
      // Every worker keeps the cookie of either on its upstream, and sets nothing.
      for (const [name, values] of learnt) {
        const cookie = `Cookie: rp_w=${[...values][0]}\r\n`;
        for (const list of held.values()) {
          const socket = list.pop() as net.Socket;
          assert.deepEqual(await send(socket, cookie), { name, value: undefined });
        }
        if ([...held.values()].some((list) => list.length <= 2)) break;
      }
    } finally {
      for (const socket of all) socket.destroy();
    }
  });
});

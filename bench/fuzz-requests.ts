/**
 * Requests for bench/fuzz.ts. Phase 1 (`requestCase`): a grammar of valid HTTP/1.1 requests
 * (methods, targets, headers, Content-Length and chunked bodies, several pipelined per
 * connection), then framing mutations that attack the parser where smuggling lives
 * (Content-Length and Transfer-Encoding values, chunk sizes and extensions, heads near the size
 * limit) and byte-level mutations (flips, inserted CR/LF/NUL/SP/HTAB, obs-fold, dropped or
 * doubled CRLFs, truncation). Phase 2 (`hostileCase`): valid requests to the hostile upstream's
 * route, whose target names the response that upstream will make up.
 */
import { Rng, splitPlan } from './fuzz-random.ts';
import type { WritePlan } from './fuzz-random.ts';

/** The Host the fuzzer's site answers to (its config is in fuzz-proxy.ts). */
export const FUZZ_HOST = 'fuzz.local';

/** The route prefix served by the hostile upstream; the rest of the target seeds its reply. */
export const HOSTILE_PREFIX = '/hostile/';

/**
 * How a phase-1 exchange ends on the client side: `linger` reads until the proxy answered as
 * many requests as were generated (or closed), `fin` half-closes after writing, `abort` resets
 * mid-way or right after writing, `hold` keeps the connection open until the proxy closes it
 * (its header, body or keep-alive timeout must).
 */
export type ClientEnding = 'linger' | 'fin' | 'abort' | 'hold';

export interface RequestCase {
  readonly phase: 'requests';
  readonly index: number;
  readonly bytes: Buffer;
  /** Requests the grammar generated (mutations may make the proxy see more or fewer). */
  readonly messages: number;
  readonly plan: WritePlan;
  readonly ending: ClientEnding;
  /** For `abort`: reset after this many writes (the payload may be cut short). */
  readonly abortAfter: number;
  /** What was done to it, for the report of a failing case. */
  readonly labels: readonly string[];
}

export interface HostileRequest {
  readonly method: string;
  readonly target: string;
}

export interface HostileCase {
  readonly phase: 'responses';
  readonly index: number;
  readonly bytes: Buffer;
  readonly requests: readonly HostileRequest[];
  readonly plan: WritePlan;
  readonly labels: readonly string[];
}

const CRLF = '\r\n';

// ---------------------------------------------------------------------------------------------
// The grammar

type Header = [string, string];

interface Message {
  method: string;
  target: string;
  version: string;
  headers: Header[];
  body: Buffer;
}

const METHODS: readonly (readonly [number, string])[] = [
  [40, 'GET'],
  [15, 'POST'],
  [8, 'HEAD'],
  [5, 'PUT'],
  [5, 'DELETE'],
  [4, 'OPTIONS'],
  [4, 'PATCH'],
  [1, 'TRACE'],
  [1, 'CONNECT'],
  [1, 'get'],
  [1, 'PROPFIND'],
  [1, 'M-SEARCH'],
];

const PLAIN_METHODS = [
  'GET',
  'GET',
  'GET',
  'POST',
  'POST',
  'HEAD',
  'PUT',
  'DELETE',
  'OPTIONS',
  'PATCH',
];

const SEGMENTS = [
  'a',
  'api',
  'v1',
  'static',
  'rules',
  'index.html',
  'x.y',
  '%61',
  '%7E',
  '%2F',
  '%2f',
  '%5C',
  '%2e%2e',
  '%2E',
  '..',
  '.',
  '%00',
  '%0a',
  '%zz',
  '%',
  '\u00fc',
  '\\',
  '~user',
  ';p=1',
  '',
  '@',
  ':',
  "'",
  '"',
  '<x>',
];

/** A request target: in a `wild` request any form and odd segments; else a plain path. */
function target(rng: Rng, wild: boolean): string {
  const form = wild
    ? rng.weighted([
        [88, 'origin'],
        [3, 'asterisk'],
        [3, 'absolute'],
        [2, 'authority'],
        [2, 'long'],
        [1, 'hostile'],
        [1, 'empty'],
      ] as const)
    : 'origin';
  if (form === 'asterisk') return '*';
  if (form === 'absolute') return `http://${FUZZ_HOST}/${rng.word()}`;
  if (form === 'authority') return `${FUZZ_HOST}:80`;
  if (form === 'empty') return '';
  if (form === 'hostile') return `${HOSTILE_PREFIX}p1.${rng.int(1_000_000)}`;
  if (form === 'long') return `/${'a'.repeat(rng.pick([2_000, 8_000, 8_190, 16_000, 70_000]))}`;
  const depth = rng.range(0, 5);
  let path = rng.chance(0.3) ? '/rules' : '';
  for (let i = 0; i < depth; i++) {
    const odd = wild && rng.chance(0.3);
    // A plain word may come out as `.` or `..`: a dot segment, which the proxy refuses.
    // (In this order: the stream of a seed stays the same from one version to the next.)
    const slash = odd && rng.chance(0.2) ? '//' : '/';
    path += slash + (odd ? rng.pick(SEGMENTS) : rng.word().replace(/^\.+$/, (dots) => `${dots}x`));
  }
  if (path === '') path = '/';
  if (rng.chance(0.3)) {
    const value = wild ? rng.visible(rng.range(0, 20)).replace(/[ #]/g, '+') : rng.word();
    path += `?${rng.word(1, 8)}=${value}`;
  }
  if (wild && rng.chance(0.02)) path += '#frag';
  return path;
}

const HEADER_POOL: readonly (readonly [string, readonly string[]])[] = [
  ['User-Agent', ['fuzz/1.0', 'curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64)']],
  ['Accept', ['*/*', 'text/html,application/xhtml+xml;q=0.9', 'application/json']],
  ['Accept-Encoding', ['gzip, deflate, br', 'identity', '*']],
  ['Cookie', ['a=b', 'session=0123456789abcdef; theme=dark']],
  ['X-Forwarded-For', ['203.0.113.7', '10.0.0.1, 198.51.100.2', 'unknown', '::1']],
  ['X-Forwarded-Proto', ['https', 'http', 'gopher']],
  ['X-Forwarded-Host', ['evil.example', FUZZ_HOST]],
  ['X-Real-IP', ['198.51.100.9']],
  ['Forwarded', ['for=192.0.2.60;proto=http;by=203.0.113.43']],
  [
    'Connection',
    ['keep-alive', 'close', 'Upgrade', 'te, close', 'content-length', 'transfer-encoding', 'host'],
  ],
  ['Upgrade', ['websocket', 'h2c', 'HTTP/2.0']],
  ['Sec-WebSocket-Key', ['dGhlIHNhbXBsZSBub25jZQ==']],
  ['Sec-WebSocket-Version', ['13']],
  ['Keep-Alive', ['timeout=5, max=100']],
  ['TE', ['trailers', 'gzip']],
  ['Trailer', ['X-Checksum']],
  ['Expect', ['100-continue', '100-Continue', 'something-else']],
  ['Proxy-Connection', ['keep-alive']],
  ['Proxy-Authorization', ['Basic Zm9vOmJhcg==']],
  ['X_Forwarded_For', ['1.2.3.4']],
  ['Content_Length', ['5']],
  ['Transfer_Encoding', ['chunked']],
  ['X-Env', ['prod']],
  ['X-Debug', ['1']],
  ['Range', ['bytes=0-1', 'bytes=-5']],
  ['If-None-Match', ['"abc"']],
  ['Authorization', ['Bearer abc.def.ghi']],
  ['Content-Type', ['text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x']],
];

function hostHeaders(rng: Rng, wild: boolean): Header[] {
  if (!wild) return [['Host', FUZZ_HOST]];
  const host = rng.weighted([
    [88, FUZZ_HOST],
    [2, `${FUZZ_HOST}:80`],
    [2, `www.${FUZZ_HOST}`],
    [2, 'other.example'],
    [1, ''],
    [1, `${FUZZ_HOST}, evil.example`],
    [1, `${FUZZ_HOST}@evil.example`],
    [1, '[::1]:8080'],
    [1, `${FUZZ_HOST}/x`],
    [1, 'missing'],
    [1, 'twice'],
  ] as const);
  if (host === 'missing') return [];
  if (host === 'twice') {
    return [
      ['Host', FUZZ_HOST],
      ['Host', 'other.example'],
    ];
  }
  return [[rng.chance(0.9) ? 'Host' : rng.pick(['host', 'HOST', 'hOsT']), host]];
}

/** Headers a browser or an API client sends every day: a clean request's only ones. */
const PLAIN_HEADERS = HEADER_POOL.filter(([name]) =>
  ['User-Agent', 'Accept', 'Accept-Encoding', 'Cookie', 'Authorization', 'X-Debug'].includes(name),
);

function extraHeaders(rng: Rng, wild: boolean): Header[] {
  const headers: Header[] = [];
  const count = rng.weighted([
    [30, 0],
    [50, rng.range(1, 4)],
    [17, rng.range(5, 12)],
    [wild ? 3 : 0, rng.pick([100, 500, 2_001])],
  ]);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.7)) {
      const [name, values] = rng.pick(wild ? HEADER_POOL : PLAIN_HEADERS);
      headers.push([name, rng.pick(values)]);
    } else {
      headers.push([`X-${rng.token(1, 20)}`, rng.visible(rng.size(200)).trim()]);
    }
  }
  return headers;
}

/** A body with a Content-Length, chunked, or none, by the method's habits. */
function frameBody(rng: Rng, message: Message, labels: string[]): void {
  const carries = ['POST', 'PUT', 'PATCH'].includes(message.method) ? 0.85 : 0.08;
  if (!rng.chance(carries)) return;
  const size = rng.chance(0.03) ? rng.range(20_000, 70_000) : rng.size(2_000);
  const data = rng.chance(0.5) ? Buffer.from(rng.visible(size), 'latin1') : rng.bytes(size);
  if (rng.chance(0.6)) {
    message.headers.push(['Content-Length', String(size)]);
    message.body = data;
    labels.push('cl');
    return;
  }
  message.headers.push(['Transfer-Encoding', 'chunked']);
  message.body = chunked(rng, data);
  labels.push('chunked');
}

/** Chunked coding of `data` in random chunk sizes, with extensions and trailers at times. */
function chunked(rng: Rng, data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const size = Math.min(data.length - at, 1 + rng.size(4_096));
    const ext = rng.chance(0.1) ? `;${rng.token()}=${rng.token()}` : '';
    parts.push(Buffer.from(`${size.toString(16)}${ext}${CRLF}`, 'latin1'));
    parts.push(data.subarray(at, at + size), Buffer.from(CRLF));
    at += size;
  }
  const trailer = rng.chance(0.1) ? `X-Checksum: ${rng.token()}${CRLF}` : '';
  parts.push(Buffer.from(`0${CRLF}${trailer}${CRLF}`, 'latin1'));
  return Buffer.concat(parts);
}

/** One request; a `wild` one may use any method, version, Host and header of the grammar. */
function message(rng: Rng, wild: boolean, labels: string[]): Message {
  const m: Message = {
    method: wild ? rng.weighted(METHODS) : rng.pick(PLAIN_METHODS),
    target: target(rng, wild),
    version: wild
      ? rng.weighted([
          [92, 'HTTP/1.1'],
          [5, 'HTTP/1.0'],
          [1, 'HTTP/2.0'],
          [1, 'HTTP/1.2'],
          [1, rng.pick(['HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', 'HTTP/1.'])],
        ])
      : 'HTTP/1.1',
    headers: [...hostHeaders(rng, wild), ...extraHeaders(rng, wild)],
    body: Buffer.alloc(0),
  };
  frameBody(rng, m, labels);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Mutations of the framing (before serialising)

const CL_VALUES = (n: number) => [
  `+${n}`,
  `-1`,
  ` ${n} `,
  `${n},${n}`,
  `${n}, ${n + 1}`,
  `0x${n.toString(16)}`,
  `${n}e0`,
  '99999999999999999999',
  '18446744073709551616',
  '',
  `${n}\u000b`,
  `0${n}`,
  String(n + 1 + (n % 7)),
  String(Math.max(0, n - 1)),
];

const TE_VALUES = [
  'Chunked',
  'CHUNKED',
  ' chunked',
  'chunked ',
  'chunked, chunked',
  'gzip, chunked',
  'chunked, gzip',
  'identity',
  'identity, chunked',
  'xchunked',
  'chunked\u000b',
  'chunk',
  '',
  'chunked;q=1',
  '"chunked"',
];

const CHUNK_SIZES = [
  'ffffffffffffffff',
  'fffffffffffffffff0',
  '10000000000000000',
  '7fffffff',
  '-1',
  '0x10',
  ' 5',
  '5 ',
  '5\t',
  '',
  'g',
  '00000000000000000000005',
  '5;' + 'e'.repeat(10_000),
  '5;a="b\\"c"',
  '5 ;a=b',
  '0;',
];

function headerIndex(m: Message, name: string): number {
  return m.headers.findIndex(([n]) => n.toLowerCase() === name);
}

/** One framing attack on a message: what request smuggling and parser bugs are made of. */
function mutateFraming(rng: Rng, m: Message, labels: string[]): void {
  const kind = rng.pick([
    'cl-value',
    'cl-dup',
    'te-value',
    'te-dup',
    'cl-and-te',
    'chunk-size',
    'chunk-no-crlf',
    'chunk-no-last',
    'trailer-framing',
    'te-name',
    'long-head',
  ] as const);
  labels.push(kind);
  const cl = headerIndex(m, 'content-length');
  const te = headerIndex(m, 'transfer-encoding');
  const size = m.body.length;
  switch (kind) {
    case 'cl-value':
      if (cl === -1) m.headers.push(['Content-Length', rng.pick(CL_VALUES(size))]);
      else (m.headers[cl] as Header)[1] = rng.pick(CL_VALUES(size));
      return;
    case 'cl-dup':
      m.headers.push(['Content-Length', rng.chance(0.5) ? String(size) : String(size + 3)]);
      return;
    case 'te-value':
      if (te === -1) m.headers.push(['Transfer-Encoding', rng.pick(TE_VALUES)]);
      else (m.headers[te] as Header)[1] = rng.pick(TE_VALUES);
      return;
    case 'te-dup':
      m.headers.push(['Transfer-Encoding', rng.pick(['chunked', 'identity', 'gzip'])]);
      return;
    case 'cl-and-te':
      if (te === -1) {
        m.headers.push(['Transfer-Encoding', 'chunked']);
        m.body = chunked(rng, m.body);
      }
      if (cl === -1) m.headers.push(['Content-Length', String(rng.size(m.body.length + 10))]);
      if (rng.chance(0.5)) m.headers.reverse();
      return;
    case 'chunk-size':
      chunkedWith(rng, m, `${rng.pick(CHUNK_SIZES)}${CRLF}hello${CRLF}0${CRLF}${CRLF}`);
      return;
    case 'chunk-no-crlf':
      chunkedWith(rng, m, `5${CRLF}helloXX0${CRLF}${CRLF}`);
      return;
    case 'chunk-no-last':
      chunkedWith(rng, m, `5${CRLF}hello${CRLF}`);
      return;
    case 'trailer-framing':
      chunkedWith(rng, m, `5${CRLF}hello${CRLF}0${CRLF}Content-Length: 50${CRLF}${CRLF}`);
      return;
    case 'te-name':
      m.headers.push([
        rng.pick(['Transfer-Encoding ', ' Transfer-Encoding', 'Transfer\tEncoding']),
        'chunked',
      ]);
      return;
    case 'long-head':
      padHead(rng, m);
      return;
  }
}

/** Replaces the body with a hand-written chunked one (and says so in the headers). */
function chunkedWith(rng: Rng, m: Message, body: string): void {
  if (headerIndex(m, 'transfer-encoding') === -1) m.headers.push(['Transfer-Encoding', 'chunked']);
  const cl = headerIndex(m, 'content-length');
  if (cl !== -1 && rng.chance(0.8)) m.headers.splice(cl, 1);
  m.body = Buffer.from(body, 'latin1');
}

/**
 * Pads the head to a size just under, at or over a limit (Node's default 16 KiB head, 8 KiB
 * lines elsewhere, 64 KiB socket reads): off-by-one bugs live there.
 */
function padHead(rng: Rng, m: Message): void {
  const goal = rng.pick([8_190, 8_192, 8_193, 16_383, 16_384, 16_385, 16_400, 65_536, 81_920]);
  const current = head(m).length;
  const room = goal - current - 'X-Pad: \r\n'.length;
  if (room <= 0) return;
  if (rng.chance(0.5)) {
    m.headers.push(['X-Pad', 'p'.repeat(room)]);
  } else {
    // The same bytes as many short headers: a count limit rather than a size one.
    for (let left = room; left > 0; left -= 20) m.headers.push([`X-P${left}`, 'p'.repeat(8)]);
  }
}

function head(m: Message): Buffer {
  const lines = [`${m.method} ${m.target} ${m.version}`];
  for (const [name, value] of m.headers) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join(CRLF)}${CRLF}${CRLF}`, 'latin1');
}

function serialise(m: Message): Buffer {
  return Buffer.concat([head(m), m.body]);
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutations (after serialising)

const INSERTS = [
  '\n',
  '\r',
  '\0',
  ' ',
  '\t',
  '\r\n',
  '\r\n\r\n',
  ':',
  '\r\n ',
  '\r\n\t',
  '\x7f',
  '\xff',
];

/** One byte-level mutation of the whole payload (which may hold several requests). */
function mutateBytes(rng: Rng, bytes: Buffer, labels: string[]): Buffer {
  if (bytes.length === 0) return bytes;
  const at = rng.int(bytes.length);
  const kind = rng.pick([
    'flip',
    'set',
    'insert',
    'delete',
    'crlf-dup',
    'crlf-drop',
    'crlf-to-lf',
    'obs-fold',
    'repeat',
    'truncate',
    'all-lf',
  ] as const);
  labels.push(`${kind}@${at}`);
  const before = bytes.subarray(0, at);
  const after = bytes.subarray(at);
  switch (kind) {
    case 'flip': {
      const copy = Buffer.from(bytes);
      copy[at] = (copy[at] as number) ^ (1 << rng.int(8));
      return copy;
    }
    case 'set': {
      const copy = Buffer.from(bytes);
      copy[at] = rng.int(256);
      return copy;
    }
    case 'insert':
      return Buffer.concat([before, Buffer.from(rng.pick(INSERTS), 'latin1'), after]);
    case 'delete':
      return Buffer.concat([before, bytes.subarray(at + rng.range(1, 8))]);
    case 'crlf-dup':
    case 'crlf-drop':
    case 'crlf-to-lf': {
      const crlf = nthCrlf(rng, bytes);
      if (crlf === -1) return bytes;
      const replacement = kind === 'crlf-dup' ? '\r\n\r\n' : kind === 'crlf-drop' ? '' : '\n';
      return Buffer.concat([
        bytes.subarray(0, crlf),
        Buffer.from(replacement),
        bytes.subarray(crlf + 2),
      ]);
    }
    case 'obs-fold': {
      // A header line continued on the next one (obsolete line folding, RFC 9112 §5.2).
      const crlf = nthCrlf(rng, bytes);
      if (crlf === -1) return bytes;
      const fold = Buffer.from(`${CRLF}${rng.pick([' ', '\t'])}${rng.token()}`, 'latin1');
      return Buffer.concat([bytes.subarray(0, crlf), fold, bytes.subarray(crlf)]);
    }
    case 'repeat': {
      const slice = bytes.subarray(at, at + rng.range(1, 64));
      return Buffer.concat([before, slice, slice, bytes.subarray(at + slice.length)]);
    }
    case 'truncate':
      return before;
    case 'all-lf':
      return Buffer.from(bytes.toString('latin1').replaceAll(CRLF, '\n'), 'latin1');
  }
}

/** The offset of a random CRLF in the payload (-1: none). */
function nthCrlf(rng: Rng, bytes: Buffer): number {
  const offsets: number[] = [];
  for (
    let at = bytes.indexOf(CRLF);
    at !== -1 && offsets.length < 64;
    at = bytes.indexOf(CRLF, at + 2)
  ) {
    offsets.push(at);
  }
  return offsets.length === 0 ? -1 : rng.pick(offsets);
}

// ---------------------------------------------------------------------------------------------
// Cases

/** Phase 1's case `index` for `seed`: one connection's bytes, splits and ending. */
export function requestCase(seed: number, index: number): RequestCase {
  const rng = Rng.of(seed, 'requests', index);
  const labels: string[] = [];
  const count = rng.weighted([
    [60, 1],
    [30, rng.range(2, 3)],
    [10, rng.range(4, 8)],
  ]);
  // Some cases stay valid, to reach the forwarding behind the parser (and to check that the
  // pipelined requests after a valid one are framed as the client meant); the wild ones get
  // the whole grammar, framing attacks and byte-level mutations.
  const wild = rng.chance(0.6);
  labels.push(wild ? 'wild' : 'clean');
  const messages: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const m = message(rng, wild, labels);
    if (i === count - 1 && rng.chance(0.2)) m.headers.push(['Connection', 'close']);
    if (wild && rng.chance(0.3)) mutateFraming(rng, m, labels);
    messages.push(serialise(m));
  }
  let bytes: Buffer = Buffer.concat(messages);
  const mutations = wild
    ? rng.weighted([
        [30, 0],
        [40, 1],
        [20, 2],
        [10, 4],
      ])
    : 0;
  for (let i = 0; i < mutations; i++) bytes = mutateBytes(rng, bytes, labels);
  const plan = splitPlan(rng, bytes);
  const ending = rng.weighted([
    [70, 'linger'],
    [19, 'fin'],
    [10, 'abort'],
    [1, 'hold'],
  ] as const);
  return {
    phase: 'requests',
    index,
    bytes,
    messages: count,
    plan,
    ending,
    abortAfter: rng.range(1, plan.pieces.length),
    labels,
  };
}

/** Phase 2's case `index`: valid requests, each to a target the hostile upstream answers. */
export function hostileCase(seed: number, index: number): HostileCase {
  const rng = Rng.of(seed, 'responses', index);
  const count = rng.weighted([
    [70, 1],
    [25, 2],
    [5, 3],
  ]);
  const labels: string[] = [];
  const requests: HostileRequest[] = [];
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const method = rng.weighted([
      [55, 'GET'],
      [10, 'HEAD'],
      [20, 'POST'],
      [5, 'PUT'],
      [5, 'DELETE'],
      [5, 'OPTIONS'],
    ]);
    // The rules route adds and removes response headers: the same replies through that code.
    const rules = rng.chance(0.25) ? 'rules/' : '';
    const target = `${HOSTILE_PREFIX}${rules}r${seed}.${index}.${i}`;
    const headers: Header[] = [
      ['Host', FUZZ_HOST],
      ['User-Agent', 'fuzz/1.0'],
    ];
    let body: Buffer = Buffer.alloc(0);
    if (method === 'POST' || method === 'PUT') {
      const data = Buffer.from(rng.visible(rng.size(4_000)), 'latin1');
      if (rng.chance(0.1)) headers.push(['Expect', '100-continue']);
      if (rng.chance(0.6)) {
        headers.push(['Content-Length', String(data.length)]);
        body = data;
      } else {
        headers.push(['Transfer-Encoding', 'chunked']);
        body = chunked(rng, data);
      }
    }
    if (i === count - 1 && rng.chance(0.15)) headers.push(['Connection', 'close']);
    labels.push(`${method} ${target}`);
    requests.push({ method, target });
    parts.push(serialise({ method, target, version: 'HTTP/1.1', headers, body }));
  }
  const bytes = Buffer.concat(parts);
  return { phase: 'responses', index, bytes, requests, plan: splitPlan(rng, bytes), labels };
}

/**
 * The hostile upstream's replies for bench/fuzz.ts, made up from the request's target (which
 * carries the seed and the case number, see fuzz-requests.ts) so that the same request always
 * meets the same reply: status lines valid and not, interim responses before the final one,
 * Content-Length and Transfer-Encoding that disagree or lie, chunked bodies with bad sizes,
 * bodies cut short, heads cut off, bytes after the body, very long headers; then byte-level
 * mutations at times, and the connection kept, closed, reset or left hanging.
 */
import { Rng, splitPlan } from './fuzz-random.ts';
import type { WritePlan } from './fuzz-random.ts';

/**
 * After writing the reply: keep the connection for the next request, close it (FIN), reset it
 * (RST), or `stall`: write nothing more and leave the proxy's response or idle timeout to end it.
 */
export type UpstreamEnding = 'keep' | 'close' | 'reset' | 'stall';

export interface HostileReply {
  readonly bytes: Buffer;
  readonly plan: WritePlan;
  readonly ending: UpstreamEnding;
  readonly labels: readonly string[];
}

const CRLF = '\r\n';

type Header = [string, string];

interface Draft {
  interim: string[];
  statusLine: string;
  headers: Header[];
  body: Buffer;
  ending: UpstreamEnding;
}

const STATUS_LINES = [
  'HTTP/1.1 200 OK',
  'HTTP/1.1 201 Created',
  'HTTP/1.1 204 No Content',
  'HTTP/1.1 301 Moved Permanently',
  'HTTP/1.1 304 Not Modified',
  'HTTP/1.1 404 Not Found',
  'HTTP/1.1 500 Internal Server Error',
  'HTTP/1.1 503 Service Unavailable',
  'HTTP/1.0 200 OK',
];

const BAD_STATUS_LINES = [
  'HTTP/1.1 999 Weird',
  'HTTP/1.1 000 Zero',
  'HTTP/1.1 99 Short',
  'HTTP/1.1 1000 Long',
  'HTTP/1.1 -20 Negative',
  'HTTP/1.1 2OO OK',
  'HTTP/1.1 200',
  'HTTP/1.1 200 ',
  'HTTP/1.1  200 OK',
  'HTTP/1.1 200 OK\u0000',
  'HTTP/1.1 200 O\rK',
  'HTTP/1.1 200 \u00e9t\u00e9',
  'HTTP/1.1 600 Beyond',
  'HTTP/2 200 OK',
  'HTTP/2.0 200 OK',
  'HTTP/1.2 200 OK',
  'HTTP/0.9 200 OK',
  'http/1.1 200 OK',
  'HTTP/1.1\t200\tOK',
  'ICY 200 OK',
  'HTTP/1.1 101 Switching Protocols',
  'HTTP/1.1 100 Continue',
  '',
];

const TE_VALUES = [
  'chunked',
  'Chunked',
  'chunked, chunked',
  'gzip, chunked',
  'chunked, gzip',
  'identity',
  'gzip',
  ' chunked',
  'chunked\u000b',
  'xchunked',
  '',
];

const CL_VALUES = (n: number) => [
  String(n + 1),
  String(Math.max(0, n - 1)),
  `+${n}`,
  '-1',
  `${n}, ${n}`,
  `${n}, ${n + 5}`,
  `0x${n.toString(16)}`,
  '99999999999999999999',
  '9007199254740993',
  '',
  ` ${n} `,
];

const BAD_CHUNK_SIZES = [
  'ffffffffffffffff',
  'fffffffffffffffff0',
  '7fffffffffffffff',
  '-5',
  '0x5',
  'g',
  '',
  ' 5',
  '5 ',
  '5;' + 'x'.repeat(20_000),
  '5;a=b;c="d"',
];

function baseDraft(rng: Rng): Draft {
  const size = rng.chance(0.03) ? rng.range(20_000, 200_000) : rng.size(3_000);
  return {
    interim: [],
    statusLine: rng.pick(STATUS_LINES),
    headers: [
      ['Content-Type', rng.pick(['text/plain', 'application/json', 'application/octet-stream'])],
      ['Server', 'hostile'],
      ...(rng.chance(0.2) ? ([['X-Powered-By', 'php']] as Header[]) : []),
      ...(rng.chance(0.1)
        ? ([
            ['Set-Cookie', 'a=1'],
            ['Set-Cookie', 'b=2'],
          ] as Header[])
        : []),
    ],
    body: rng.chance(0.7) ? Buffer.from(rng.visible(size), 'latin1') : rng.bytes(size),
    ending: rng.weighted([
      [80, 'keep'],
      [15, 'close'],
      [5, 'reset'],
    ] as const),
  };
}

function setFraming(rng: Rng, d: Draft): void {
  const framing = rng.weighted([
    [60, 'length'],
    [30, 'chunked'],
    [10, 'close'],
  ] as const);
  if (framing === 'length') d.headers.push(['Content-Length', String(d.body.length)]);
  else if (framing === 'chunked') {
    d.headers.push(['Transfer-Encoding', 'chunked']);
    d.body = chunked(rng, d.body, rng.chance(0.1));
  } else {
    // Close-delimited: the body ends where the connection does.
    d.ending = 'close';
  }
}

function chunked(rng: Rng, data: Buffer, trailers: boolean): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const size = Math.min(data.length - at, 1 + rng.size(8_192));
    const ext = rng.chance(0.05) ? `;${rng.token()}` : '';
    parts.push(Buffer.from(`${size.toString(16)}${ext}${CRLF}`, 'latin1'));
    parts.push(data.subarray(at, at + size), Buffer.from(CRLF));
    at += size;
  }
  const trailer = trailers ? `X-Trailer: ${rng.token()}${CRLF}` : '';
  parts.push(Buffer.from(`0${CRLF}${trailer}${CRLF}`, 'latin1'));
  return Buffer.concat(parts);
}

function headerIndex(d: Draft, name: string): number {
  return d.headers.findIndex(([n]) => n.toLowerCase() === name);
}

/** What makes this reply hostile; `valid` leaves it a correct response. */
function twist(rng: Rng, d: Draft, method: string, labels: string[]): void {
  const kind = rng.weighted([
    [30, 'valid'],
    [10, 'interim'],
    [8, 'bad-status'],
    [8, 'bad-length'],
    [7, 'bad-te'],
    [8, 'bad-chunks'],
    [7, 'truncated'],
    [4, 'head-cut'],
    [5, 'trailing'],
    [4, 'long-headers'],
    [3, 'bodyless-with-body'],
    [2, 'bad-header-line'],
    [2, 'garbage'],
    [1, 'stall'],
    [1, 'lf-only'],
  ] as const);
  labels.push(kind);
  const cl = headerIndex(d, 'content-length');
  const te = headerIndex(d, 'transfer-encoding');
  switch (kind) {
    case 'valid':
      return;
    case 'interim':
      for (let i = rng.range(1, 3); i > 0; i--) {
        d.interim.push(
          rng.pick([
            'HTTP/1.1 100 Continue\r\n\r\n',
            'HTTP/1.1 102 Processing\r\n\r\n',
            'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n',
            'HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\nContent-Length: 5\r\n\r\n',
            'HTTP/1.1 199 Whatever\r\nX-Interim: 1\r\n\r\n',
          ]),
        );
      }
      return;
    case 'bad-status':
      d.statusLine = rng.pick(BAD_STATUS_LINES);
      return;
    case 'bad-length':
      if (cl !== -1) (d.headers[cl] as Header)[1] = rng.pick(CL_VALUES(d.body.length));
      else d.headers.push(['Content-Length', rng.pick(CL_VALUES(d.body.length))]);
      if (rng.chance(0.3)) d.headers.push(['Content-Length', String(d.body.length)]);
      return;
    case 'bad-te':
      if (te !== -1) (d.headers[te] as Header)[1] = rng.pick(TE_VALUES);
      else {
        d.headers.push(['Transfer-Encoding', rng.pick(TE_VALUES)]);
        if (rng.chance(0.5)) d.body = chunked(rng, d.body, false);
      }
      return;
    case 'bad-chunks':
      if (cl !== -1) d.headers.splice(cl, 1);
      if (te === -1) d.headers.push(['Transfer-Encoding', 'chunked']);
      d.body = Buffer.from(
        rng.pick([
          `${rng.pick(BAD_CHUNK_SIZES)}${CRLF}hello${CRLF}0${CRLF}${CRLF}`,
          `5${CRLF}helloXX0${CRLF}${CRLF}`,
          `3${CRLF}hello${CRLF}0${CRLF}${CRLF}`,
          `5${CRLF}hello${CRLF}`,
          `5${CRLF}hello${CRLF}0${CRLF}Content-Length: 9${CRLF}${CRLF}`,
          `5${CRLF}hello${CRLF}0${CRLF}`,
          `5\nhello\n0\n\n`,
        ]),
        'latin1',
      );
      return;
    case 'truncated':
      // The framing promises more than is sent; then close, reset or silence.
      d.body = d.body.subarray(0, rng.int(Math.max(1, d.body.length)));
      // Silence costs the route's idle timeout (2 s) per reply: the rarest of the three.
      d.ending = rng.weighted([
        [45, 'close'],
        [40, 'reset'],
        [15, 'stall'],
      ] as const);
      return;
    case 'head-cut':
      d.ending = rng.pick(['close', 'reset']);
      labels.push('cut-in-head');
      return;
    case 'trailing':
      d.body = Buffer.concat([
        d.body,
        Buffer.from(
          rng.pick([
            'garbage after the body',
            'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsmuggl',
            '\r\n',
            '0\r\n\r\n',
            'HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\n\r\n',
          ]),
          'latin1',
        ),
      ]);
      return;
    case 'long-headers': {
      const size = rng.pick([8_000, 16_000, 16_384, 65_000, 100_000, 300_000]);
      if (rng.chance(0.6)) d.headers.push(['X-Long', 'v'.repeat(size)]);
      else for (let left = size; left > 0; left -= 24) d.headers.push([`X-M${left}`, 'vvvvvvvv']);
      return;
    }
    case 'bodyless-with-body':
      d.statusLine = rng.pick(['HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified']);
      if (cl === -1 && te === -1) d.headers.push(['Content-Length', String(d.body.length)]);
      labels.push(method === 'HEAD' ? 'head' : 'not-head');
      return;
    case 'bad-header-line':
      d.headers.push(
        rng.pick([
          ['X-Nul', 'a\u0000b'],
          ['X-Bad Name', 'v'],
          ['', 'empty-name'],
          ['X-Fold', `a${CRLF} folded`],
          ['X-CR', 'a\rb'],
          ['Content-Length ', String(d.body.length)],
          ['Transfer-Encoding\t', 'chunked'],
          ['X-NoColon\r\nNoColonLine', 'x'],
          ['Connection', 'content-length'],
          ['Connection', 'transfer-encoding, close'],
        ] as Header[]),
      );
      return;
    case 'garbage':
      d.statusLine = rng.visible(rng.range(0, 200));
      return;
    case 'stall':
      d.ending = 'stall';
      labels.push('no-reply');
      return;
    case 'lf-only':
      labels.push('lf');
      return;
  }
}

function serialise(d: Draft, method: string, labels: readonly string[], rng: Rng): Buffer {
  if (labels.includes('no-reply')) return Buffer.alloc(0);
  // A reply to HEAD has no body, unless sending one anyway is the point of this reply.
  if (method === 'HEAD' && !labels.includes('head')) d.body = Buffer.alloc(0);
  const eol = labels.includes('lf') ? '\n' : CRLF;
  const lines = [d.statusLine, ...d.headers.map(([n, v]) => `${n}: ${v}`)];
  const head = Buffer.from(`${d.interim.join('')}${lines.join(eol)}${eol}${eol}`, 'latin1');
  if (labels.includes('cut-in-head')) return head.subarray(0, rng.int(head.length));
  return Buffer.concat([head, d.body]);
}

const BYTE_INSERTS = ['\n', '\r', '\0', ' ', '\t', '\r\n', '\r\n\r\n', '\r\n ', ':'];

/** One byte-level mutation, in the head mostly (where the client parser has the most state). */
function mutateBytes(rng: Rng, bytes: Buffer, labels: string[]): Buffer {
  if (bytes.length === 0) return bytes;
  const headEnd = bytes.indexOf('\r\n\r\n');
  const limit = headEnd > 0 && rng.chance(0.8) ? headEnd + 4 : bytes.length;
  const at = rng.int(limit);
  const kind = rng.pick(['flip', 'insert', 'delete', 'set'] as const);
  labels.push(`${kind}@${at}`);
  if (kind === 'flip' || kind === 'set') {
    const copy = Buffer.from(bytes);
    copy[at] = kind === 'flip' ? (copy[at] as number) ^ (1 << rng.int(8)) : rng.int(256);
    return copy;
  }
  if (kind === 'insert') {
    const insert = Buffer.from(rng.pick(BYTE_INSERTS), 'latin1');
    return Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(at)]);
  }
  return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + rng.range(1, 4))]);
}

/** The hostile upstream's reply to `method target`, always the same for the same pair. */
export function hostileReply(method: string, target: string): HostileReply {
  const rng = Rng.of('reply', method, target);
  const labels: string[] = [];
  const d = baseDraft(rng);
  setFraming(rng, d);
  twist(rng, d, method, labels);
  let bytes = serialise(d, method, labels, rng);
  if (rng.chance(0.1)) bytes = mutateBytes(rng, bytes, labels);
  return { bytes, plan: splitPlan(rng, bytes), ending: d.ending, labels };
}

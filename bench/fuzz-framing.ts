/**
 * The fuzzer's own HTTP/1.1 framing (bench/fuzz.ts), strict on purpose, because what it reads
 * is what the proxy wrote: requests it forwarded upstream (`frameRequest`) and responses it
 * sent its client (`ResponseReader`). Whatever the fuzzer sent the proxy, the proxy must only
 * ever write well-framed HTTP: one Content-Length or chunked, never both, no control bytes in a
 * header, nothing after the last response. A violation is a finding (a smuggling or response
 * splitting vector), reported with the bytes.
 */

const HEAD_END = '\r\n\r\n';
/** Larger than any head the proxy may legitimately write (Node's limit is 16 KiB). */
const MAX_HEAD = 256 * 1024;
const MAX_CHUNK_LINE = 4_096;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** field-value: visible ASCII, obs-text, space and tab; no CR, LF, NUL or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e\x80-\xff]+) HTTP\/1\.[01]$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const CHUNK_LINE = /^([0-9a-fA-F]{1,15})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?$/;

type Header = readonly [name: string, value: string];

/** Parses a head's header lines (after its first line); a string says what is wrong. */
function parseHeaders(lines: readonly string[]): Header[] | string {
  const headers: Header[] = [];
  for (const line of lines) {
    if (/[\r\n]/.test(line)) return `bare CR or LF in ${JSON.stringify(line.slice(0, 80))}`;
    const colon = line.indexOf(':');
    const name = colon === -1 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) return `bad header line ${JSON.stringify(line.slice(0, 80))}`;
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) return `bad value in ${JSON.stringify(line.slice(0, 80))}`;
    headers.push([name.toLowerCase(), value]);
  }
  return headers;
}

/** How a message's body is framed, or a string saying why it cannot be told. */
type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

function bodyFraming(headers: readonly Header[], closeDelimitedOk: boolean): BodyFraming | string {
  const te = headers.filter(([n]) => n === 'transfer-encoding').map(([, v]) => v);
  const cl = headers.filter(([n]) => n === 'content-length').map(([, v]) => v);
  if (te.length > 0 && cl.length > 0) return 'both Transfer-Encoding and Content-Length';
  if (cl.length > 1) return `${cl.length} Content-Length headers (${cl.join(' | ')})`;
  if (te.length > 0) {
    const codings = te
      .join(',')
      .split(',')
      .map((c) => c.trim().toLowerCase());
    if (codings.at(-1) === 'chunked' && codings.filter((c) => c === 'chunked').length === 1) {
      return { kind: 'chunked' };
    }
    // A response may end a non-chunked coding by closing; a request may not (RFC 9112 §6.3).
    return closeDelimitedOk ? { kind: 'none' } : `Transfer-Encoding ${te.join(' | ')}`;
  }
  if (cl.length === 1) {
    const value = cl[0] as string;
    // Any run of digits is valid (RFC 9110 §8.6); one past 2^53 just never completes here.
    if (!/^\d{1,40}$/.test(value)) return `Content-Length ${JSON.stringify(value)}`;
    return { kind: 'length', length: Number(value) };
  }
  return { kind: 'none' };
}

/** A chunked body's length from `at` (trailers included), or undefined: not all here yet. */
function chunkedLength(buf: Buffer, at: number): { length: number } | string | undefined {
  let pos = at;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd === -1) {
      return buf.length - pos > MAX_CHUNK_LINE ? 'chunk-size line too long' : undefined;
    }
    const line = buf.subarray(pos, lineEnd).toString('latin1');
    const match = CHUNK_LINE.exec(line);
    if (match === null) return `bad chunk-size line ${JSON.stringify(line.slice(0, 80))}`;
    const size = Number.parseInt(match[1] as string, 16);
    pos = lineEnd + 2;
    if (size === 0) break;
    if (buf.length < pos + size + 2) return undefined;
    if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a)
      return 'chunk data not followed by CRLF';
    pos += size + 2;
  }
  // Trailer section: header lines up to an empty one.
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd === -1) return buf.length - pos > MAX_HEAD ? 'trailers too long' : undefined;
    const line = buf.subarray(pos, lineEnd).toString('latin1');
    pos = lineEnd + 2;
    if (line === '') return { length: pos - at };
    const bad = parseHeaders([line]);
    if (typeof bad === 'string') return `trailer: ${bad}`;
  }
}

export type FramedRequest =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'bad'; readonly reason: string }
  | {
      readonly kind: 'request';
      readonly length: number;
      readonly method: string;
      readonly target: string;
    };

/** The first request at the start of `buf`, as an upstream must be able to frame it. */
export function frameRequest(buf: Buffer): FramedRequest {
  const end = buf.indexOf(HEAD_END);
  if (end === -1) {
    return buf.length > MAX_HEAD
      ? { kind: 'bad', reason: 'head too long' }
      : { kind: 'incomplete' };
  }
  const [first = '', ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const line = REQUEST_LINE.exec(first);
  if (line === null)
    return { kind: 'bad', reason: `bad request line ${JSON.stringify(first.slice(0, 120))}` };
  const headers = parseHeaders(lines);
  if (typeof headers === 'string') return { kind: 'bad', reason: headers };
  const framing = bodyFraming(headers, false);
  if (typeof framing === 'string') return { kind: 'bad', reason: framing };
  const bodyAt = end + 4;
  const method = line[1] as string;
  const target = line[2] as string;
  if (framing.kind === 'none') return { kind: 'request', length: bodyAt, method, target };
  if (framing.kind === 'length') {
    if (buf.length < bodyAt + framing.length) return { kind: 'incomplete' };
    return { kind: 'request', length: bodyAt + framing.length, method, target };
  }
  const body = chunkedLength(buf, bodyAt);
  if (body === undefined) return { kind: 'incomplete' };
  if (typeof body === 'string') return { kind: 'bad', reason: body };
  return { kind: 'request', length: bodyAt + body.length, method, target };
}

/**
 * What one request got: a complete response (`status`), a response whose body the proxy cut
 * (`cut`, allowed when the upstream broke off), or a close before any response (`closed`).
 */
export type Answer =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'cut'; readonly status: number }
  | { readonly kind: 'closed' };

type ReaderState =
  | { readonly at: 'head' }
  | { readonly at: 'length'; readonly status: number; readonly left: number }
  | { readonly at: 'chunked'; readonly status: number }
  | { readonly at: 'until-close'; readonly status: number }
  | { readonly at: 'after' };

/**
 * Frames the proxy's responses to requests of known methods, in order. Interim responses
 * (1xx but 101) are skipped; `malformed` says what broke the framing, and stays set.
 */
export class ResponseReader {
  readonly answers: Answer[] = [];
  malformed: string | undefined;
  /** A final response said `Connection: close`: the proxy must close the connection. */
  closeAnnounced = false;
  readonly #methods: string[];
  #pending: Buffer = Buffer.alloc(0);
  #state: ReaderState = { at: 'head' };

  constructor(methods: readonly string[]) {
    this.#methods = [...methods];
  }

  /** Every request has its answer, or the framing broke. */
  get done(): boolean {
    return this.malformed !== undefined || this.#methods.length === 0;
  }

  feed(chunk: Buffer): void {
    if (this.malformed !== undefined) return;
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.malformed === undefined && this.#step()) {
      // each step consumed something
    }
  }

  /** The proxy closed the connection. */
  close(): void {
    if (this.malformed !== undefined) return;
    const state = this.#state;
    if (state.at === 'until-close') this.#answer({ kind: 'status', status: state.status });
    else if (state.at === 'length' || state.at === 'chunked')
      this.#answer({ kind: 'cut', status: state.status });
    else if (state.at === 'head' && this.#pending.length > 0)
      this.#answer({ kind: 'cut', status: 0 });
    while (this.#methods.length > 0) this.#answer({ kind: 'closed' });
  }

  #answer(answer: Answer): void {
    this.answers.push(answer);
    this.#methods.shift();
    this.#state = this.#methods.length === 0 ? { at: 'after' } : { at: 'head' };
  }

  /** One parsing step; false when it needs more bytes. */
  #step(): boolean {
    const state = this.#state;
    const buf = this.#pending;
    if (state.at === 'after') {
      if (buf.length > 0) this.malformed = `${buf.length} bytes after the last response`;
      return false;
    }
    if (state.at === 'head') return this.#head(buf);
    if (state.at === 'until-close') {
      this.#pending = Buffer.alloc(0);
      return false;
    }
    if (state.at === 'length') {
      const take = Math.min(state.left, buf.length);
      this.#pending = buf.subarray(take);
      if (take === state.left) this.#answer({ kind: 'status', status: state.status });
      else this.#state = { ...state, left: state.left - take };
      return take === state.left;
    }
    const body = chunkedLength(buf, 0);
    if (body === undefined) return false;
    if (typeof body === 'string') {
      this.malformed = body;
      return false;
    }
    this.#pending = buf.subarray(body.length);
    this.#answer({ kind: 'status', status: state.status });
    return true;
  }

  #head(buf: Buffer): boolean {
    const end = buf.indexOf(HEAD_END);
    if (end === -1) {
      if (buf.length > MAX_HEAD) this.malformed = 'response head too long';
      return false;
    }
    const [first = '', ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
    const line = STATUS_LINE.exec(first);
    const headers = parseHeaders(lines);
    if (line === null) this.malformed = `bad status line ${JSON.stringify(first.slice(0, 120))}`;
    else if (typeof headers === 'string') this.malformed = headers;
    if (line === null || typeof headers === 'string') return false;
    this.#pending = buf.subarray(end + 4);
    const status = Number(line[1]);
    if (status === 101) {
      this.malformed = '101 Switching Protocols to a request that asked for no upgrade';
      return false;
    }
    if (status < 200) return true;
    if (headers.some(([n, v]) => n === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(v))) {
      this.closeAnnounced = true;
    }
    const method = this.#methods[0] as string;
    if (method === 'HEAD' || status === 204 || status === 304) {
      this.#answer({ kind: 'status', status });
      return true;
    }
    const framing = bodyFraming(headers, true);
    if (typeof framing === 'string') {
      this.malformed = framing;
      return false;
    }
    if (framing.kind === 'length') this.#state = { at: 'length', status, left: framing.length };
    else if (framing.kind === 'chunked') this.#state = { at: 'chunked', status };
    else this.#state = { at: 'until-close', status };
    if (framing.kind === 'length' && framing.length === 0) this.#answer({ kind: 'status', status });
    return true;
  }
}

/** Final statuses (200 and up) at the start of a line in what the proxy sent (phase 1). */
export function finalStatuses(text: string): number[] {
  return [...text.matchAll(/(?:^|\n)HTTP\/1\.[01] (\d{3}) /g)]
    .map((m) => Number(m[1]))
    .filter((s) => s >= 200);
}

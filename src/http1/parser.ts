import { createRequire } from 'node:module';

/*
 * The one file that touches Node's llhttp binding. `node:_http_common` is documented as
 * deprecated (DEP0199) for its exports, not removable: node:http itself is built on it. Its
 * shape is checked at load (checkParserBinding) and by a unit test, so a Node upgrade that
 * changes a constructor, an argument or a callback index fails loudly, not subtly.
 */

/** The callbacks the binding calls, with the arguments Node 24 passes. */
export interface ParserCallbacks {
  /** Headers that spanned several reads, delivered before kOnHeadersComplete (its list is then empty). */
  onHeaders(headers: string[], url: string): void;
  /**
   * The head is complete. Requests: `method` indexes METHODS, `url` is the target. Responses:
   * `statusCode` and `statusMessage`. Returns 0, or 1 to read no body (a response to HEAD,
   * 204, 304), or 2 to stop parsing here (an upgrade: the rest is the other protocol's).
   */
  onHeadersComplete(
    versionMajor: number,
    versionMinor: number,
    headers: string[] | undefined,
    method: number | undefined,
    url: string | undefined,
    statusCode: number | undefined,
    statusMessage: string | undefined,
    upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number;
  /** A piece of body, de-chunked. The buffer is a view the caller may keep. */
  onBody(chunk: Buffer): void;
  onMessageComplete(): void;
}

/** What `execute` and `finish` return: bytes parsed, or an Error with llhttp's code. */
export type ParseError = Error & { code: string; bytesParsed: number; reason?: string };

export interface Parser {
  initialize(kind: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(chunk: Buffer): number | ParseError;
  finish(): undefined | ParseError;
  remove(): void;
  free(): void;
  /** Deletes the native parser: the only way its memory is ever freed. */
  close(): void;
  [index: number]: unknown;
}

interface Binding {
  HTTPParser: (new () => Parser) & Record<string, number>;
  methods: readonly string[];
}

const binding = createRequire(import.meta.url)('node:_http_common') as Binding;
const Ctor = binding.HTTPParser;

/** The request methods llhttp knows, indexed as kOnHeadersComplete reports them. */
export const METHODS: readonly string[] = binding.methods;

/** The limit on a request's or response's head (request line, headers), as nginx's 16 KB buffers. */
export const MAX_HEADER_BYTES = 16_384;

export const REQUEST = Ctor.REQUEST as number;
export const RESPONSE = Ctor.RESPONSE as number;
/** Skip the body (kOnHeadersComplete's return). */
export const SKIP_BODY = 1;
/** Stop after the head: what follows belongs to the upgraded protocol. */
export const STOP_AT_UPGRADE = 2;

/**
 * A strict parser of `kind`, whatever `--insecure-http-parser` or NODE_OPTIONS say: lenient
 * flags are the proxy's framing decisions, and every lenience is a smuggling vector between
 * this hop and the next.
 */
export function createParser(kind: number, callbacks: ParserCallbacks): Parser {
  const parser = new Ctor();
  parser.initialize(kind, {}, MAX_HEADER_BYTES, Ctor.kLenientNone as number);
  setCallbacks(parser, callbacks);
  return parser;
}

function setCallbacks(parser: Parser, callbacks: ParserCallbacks): void {
  parser[Ctor.kOnHeaders as number] = callbacks.onHeaders;
  parser[Ctor.kOnHeadersComplete as number] = callbacks.onHeadersComplete;
  parser[Ctor.kOnBody as number] = callbacks.onBody;
  parser[Ctor.kOnMessageComplete as number] = callbacks.onMessageComplete;
}

/** Starts `parser` over at a message boundary (after a counted body or an upgrade head). */
export function resetParser(parser: Parser, kind: number): void {
  parser.initialize(kind, {}, MAX_HEADER_BYTES, Ctor.kLenientNone as number);
}

/**
 * Parsers kept for reuse, as Node's own server keeps its (FreeList, 1000). A parser is a native
 * object of about 6.5 KB that the garbage collector never frees by itself: one that is not
 * kept must be closed, or every connection leaks it.
 */
const spare: Parser[] = [];
const MAX_SPARE = 1000;

const NOOP = (): number => 0;
/** What a spare parser calls: nothing that holds its last connection. */
const DETACHED: ParserCallbacks = {
  onHeaders: NOOP,
  onHeadersComplete: NOOP,
  onBody: NOOP,
  onMessageComplete: NOOP,
};

/** A parser of `kind` for a new connection or message, from the spares when there are some. */
export function takeParser(kind: number, callbacks: ParserCallbacks): Parser {
  const parser = spare.pop();
  if (parser === undefined) return createParser(kind, callbacks);
  resetParser(parser, kind);
  setCallbacks(parser, callbacks);
  return parser;
}

/** Gives a parser back; it must not be used after. Its callbacks no longer hold its connection. */
export function releaseParser(parser: Parser): void {
  parser[0] = undefined;
  setCallbacks(parser, DETACHED);
  if (spare.length < MAX_SPARE) spare.push(parser);
  else parser.close();
}

/** The callback slots and constants this file relies on, as Node 24 numbers them. */
const EXPECTED = {
  REQUEST: 1,
  RESPONSE: 2,
  kOnMessageBegin: 0,
  kOnHeaders: 1,
  kOnHeadersComplete: 2,
  kOnBody: 3,
  kOnMessageComplete: 4,
  kOnExecute: 5,
  kLenientNone: 0,
} as const;

/**
 * What is wrong with the binding's shape, empty when nothing: the constants and callback
 * indices, the methods list, the prototype's methods, and a real parse through the
 * callbacks with the arguments in the places this file reads them.
 */
export function checkParserBinding(): string[] {
  const problems: string[] = [];
  if (typeof Ctor !== 'function') return ['node:_http_common has no HTTPParser constructor'];
  for (const [name, value] of Object.entries(EXPECTED)) {
    if (Ctor[name] !== value) problems.push(`HTTPParser.${name} is ${Ctor[name]}, not ${value}`);
  }
  for (const method of ['initialize', 'execute', 'finish', 'close', 'free']) {
    if (typeof (Ctor.prototype as Record<string, unknown>)[method] !== 'function') {
      problems.push(`HTTPParser.prototype.${method} is missing`);
    }
  }
  if (METHODS[1] !== 'GET' || METHODS[2] !== 'HEAD' || METHODS[3] !== 'POST') {
    problems.push(`methods list changed: ${METHODS.slice(0, 4).join(',')}`);
  }
  problems.push(...checkRoundTrip());
  return problems;
}

function checkRoundTrip(): string[] {
  const seen: unknown[][] = [];
  let body = '';
  let complete = 0;
  const parser = createParser(REQUEST, {
    onHeaders: () => undefined,
    onHeadersComplete: (...args) => {
      seen.push(args);
      return 0;
    },
    onBody: (chunk) => (body += chunk.toString('latin1')),
    onMessageComplete: () => complete++,
  });
  const bytes = Buffer.from('POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok');
  const result = parser.execute(bytes);
  parser.close();
  const args = seen[0];
  const problems: string[] = [];
  if (result !== bytes.length) problems.push(`execute returned ${String(result)}`);
  if (args === undefined) return [...problems, 'kOnHeadersComplete was not called'];
  const [major, minor, headers, method, url, , , upgrade, keepAlive] = args;
  if (major !== 1 || minor !== 1) problems.push('kOnHeadersComplete: version not at 0, 1');
  if (!Array.isArray(headers) || headers[0] !== 'Host' || headers[3] !== '2') {
    problems.push('kOnHeadersComplete: headers not a flat list at 2');
  }
  if (METHODS[method as number] !== 'POST') problems.push('kOnHeadersComplete: method not at 3');
  if (url !== '/p?q') problems.push('kOnHeadersComplete: url not at 4');
  if (upgrade !== false || keepAlive !== true)
    problems.push('kOnHeadersComplete: flags not at 7, 8');
  if (body !== 'ok') problems.push('kOnBody did not deliver the body as one Buffer');
  if (complete !== 1) problems.push('kOnMessageComplete was not called once');
  return problems;
}

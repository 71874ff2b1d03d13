import { httpDate } from './http-date.ts';

/** The answers the codec gives by itself, before any request reaches the request path. */
export type Refusal = 'malformed' | 'headers_too_large' | 'request_timeout' | 'unsupported_coding';

const REFUSALS: Record<Refusal, [number, string, string, string]> = {
  malformed: [400, 'Bad Request', 'bad_request', 'the request could not be parsed'],
  headers_too_large: [
    431,
    'Request Header Fields Too Large',
    'headers_too_large',
    'the request head exceeds 16 KB or 100 header lines',
  ],
  request_timeout: [408, 'Request Timeout', 'request_timeout', 'the request arrived too slowly'],
  unsupported_coding: [
    501,
    'Not Implemented',
    'unsupported_coding',
    'transfer codings other than chunked are not supported',
  ],
};

/** The status and error code a refusal answers with. */
export function refusalStatus(refusal: Refusal): { status: number; error: string } {
  const [status, , error] = REFUSALS[refusal];
  return { status, error };
}

/** The whole response, ready to write: the connection closes after it. */
export function refusalBytes(refusal: Refusal): Buffer {
  const [status, reason, error, message] = REFUSALS[refusal];
  const body = `${JSON.stringify({ status, error, message })}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\ncache-control: no-store\r\ndate: ${httpDate()}\r\n` +
      `connection: close\r\n\r\n${body}`,
    'latin1',
  );
}

/** llhttp's error codes as the codec answers them. */
export function refusalOf(code: string, reason: string | undefined): Refusal {
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  // A coding llhttp does not take (`identity`, `gzip`, `chunked;q=1`): 501, as for a list of
  // them. The same code with Content-Length beside it is faulty framing: 400, as nginx says.
  // (The reason text is llhttp's; a test of each case fails if it changes.)
  if (code === 'HPE_INVALID_TRANSFER_ENCODING' && reason?.includes('invalid') === true) {
    return 'unsupported_coding';
  }
  return 'malformed';
}

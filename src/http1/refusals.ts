/** The answers the codec gives by itself, before any request reaches the request path. */
export type Refusal = 'malformed' | 'headers_too_large' | 'request_timeout';

const REFUSALS: Record<Refusal, [number, string, string, string]> = {
  malformed: [400, 'Bad Request', 'bad_request', 'the request could not be parsed'],
  headers_too_large: [
    431,
    'Request Header Fields Too Large',
    'headers_too_large',
    'the request line and headers exceed 16 KB',
  ],
  request_timeout: [408, 'Request Timeout', 'request_timeout', 'the request arrived too slowly'],
};

const PREPARED = new Map(
  Object.entries(REFUSALS).map(([kind, [status, reason, error, message]]) => {
    const body = `${JSON.stringify({ status, error, message })}\n`;
    const head =
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n`;
    return [kind as Refusal, Buffer.from(head + body, 'latin1')];
  }),
);

/** The whole response, ready to write: the connection closes after it. */
export function refusalBytes(refusal: Refusal): Buffer {
  return PREPARED.get(refusal) as Buffer;
}

/** llhttp's error codes as the codec answers them. */
export function refusalOf(code: string): Refusal {
  return code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'malformed';
}

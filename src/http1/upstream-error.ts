/**
 * Why an attempt at an upstream failed: the one classification, made once where the failure
 * is seen (the client connection, the pool), and read by passive health, retries, metrics and
 * the error response alike.
 */
export type Failure =
  /** Connection refused or unreachable. */
  | 'refused'
  /** No connection within timeouts.connect_ms. */
  | 'connect_timeout'
  /** The connection closed or was reset before the response was complete. */
  | 'reset'
  /** No response head within timeouts.response_ms, or a body silent for idle_ms. */
  | 'timeout'
  | 'dns'
  /** A response this proxy will not pass on (bad framing, a status outside 100-599). */
  | 'protocol'
  /** The origin's pool and its queue are full: the upstream was never asked. */
  | 'busy'
  /** The upstream answered 502, 503 or 504. */
  | 'bad_status'
  /** A route of service upstreams had no endpoint to send to: nobody was asked. */
  | 'no_endpoints'
  | 'other';

/** An upstream failure, classified once. */
export class UpstreamError extends Error {
  readonly failure: Failure;
  /** The system or parser code behind it (ECONNRESET, HPE_INVALID_CHUNK_SIZE), for the log. */
  readonly code: string;

  constructor(failure: Failure, message: string, code: string = failure) {
    super(message);
    this.failure = failure;
    this.code = code;
  }
}

/** A socket error's failure, by errno. */
export function failureOfSocketError(err: NodeJS.ErrnoException): Failure {
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns';
    default:
      return err.code?.startsWith('ERR_TLS') || err.code?.startsWith('ERR_SSL')
        ? 'protocol'
        : 'other';
  }
}

export function upstreamErrorOf(err: NodeJS.ErrnoException): UpstreamError {
  return new UpstreamError(failureOfSocketError(err), err.message, err.code ?? 'other');
}

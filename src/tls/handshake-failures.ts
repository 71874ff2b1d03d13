/** Why a TLS handshake failed, as counted in reverse_proxy_tls_handshake_failures_total. */
export type HandshakeFailure =
  | 'not_tls'
  | 'protocol_version'
  | 'no_shared_cipher'
  | 'client_alert'
  | 'reset'
  | 'timeout'
  | 'other';

/** OpenSSL's reasons folded into a few labels, so that a scanner cannot grow the series. */
export function handshakeFailureReason(err: NodeJS.ErrnoException): HandshakeFailure {
  const code = err.code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code.includes('HTTP_REQUEST') || code.includes('WRONG_VERSION_NUMBER')) return 'not_tls';
  if (code.includes('VERSION') || code.includes('PROTOCOL')) return 'protocol_version';
  if (code.includes('CIPHER')) return 'no_shared_cipher';
  if (code.includes('ALERT')) return 'client_alert';
  return 'other';
}

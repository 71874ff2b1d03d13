/**
 * Every error the proxy raises on purpose carries a stable code from this registry.
 * docs/errors.md documents each code; a test fails when one is missing there.
 */
export const ERROR_CODES = {
  ERR_USAGE: 'the command line is wrong (unknown command or flag, missing value)',
  ERR_NODE_UNSUPPORTED: 'the CLI runs on a Node.js major other than the one package.json requires',
  ERR_CONFIG_UNREADABLE: 'the config file cannot be opened or read',
  ERR_CONFIG_TOO_LARGE: 'the config file is larger than the size cap',
  ERR_CONFIG_CHANGED_DURING_READ: 'the config file changed while it was being read',
  ERR_CONFIG_PARSE: 'the config file is not valid YAML',
  ERR_CONFIG_INVALID: 'the config file breaks one or more rules',
  ERR_LISTEN: 'a listener could not be bound',
  ERR_SOCKET_DIR_UNAVAILABLE: 'the socket directory cannot be created or inspected',
  ERR_SOCKET_DIR_INSECURE: 'the admin socket directory is a symlink, foreign-owned or too open',
  ERR_SOCKET_PATH_SYMLINK: 'the admin socket path is a symlink',
  ERR_SOCKET_PATH_NOT_SOCKET: 'the admin socket path exists and is not a socket',
  ERR_SOCKET_IN_USE: 'another process is listening on the admin socket path',
  ERR_SOCKET_MODE: 'the admin socket did not end with the intended permissions',
  ERR_PEER_CRED_UNAVAILABLE: 'the peer credentials of a Unix socket cannot be read here',
  ERR_ADMIN_SERVER_UNTRUSTED: 'the admin socket is served by an unexpected uid',
  ERR_ADMIN_UNREACHABLE: 'the admin socket cannot be reached',
  ERR_ADMIN_PROTOCOL: 'the admin socket answered something that is not one JSON line',
  ERR_KUBE_CONFIG: 'the sidecar has no usable Kubernetes credentials (in-cluster or KUBECONFIG)',
  ERR_KUBE_FORBIDDEN:
    'the Kubernetes API refused a request (403): the Role lacks a verb on a resource',
  ERR_KUBE_API: 'a Kubernetes API request failed (network, 5xx, unexpected status); retried',
  ERR_CONFIGMAP_KEY_MISSING: 'the watched ConfigMap has no entry under the sidecar --key',
  ERR_CONFIG_WRITE: 'the sidecar cannot write --config-out; retried with back-off',
  ERR_RELOAD_REJECTED: 'the proxy answered the sidecar reload with an error reply',
  ERR_RELOAD_NOT_CONFIRMED: 'after a reload the proxy status does not show the delivered config',
  ERR_WORKER_EXITED: 'a worker process exited before it was listening (its log says why)',
  ERR_WORKERS_APPLY: 'no worker could apply a reloaded config; they keep serving the previous one',
  ERR_ENDPOINTS_INVALID:
    'the endpoints file (--endpoints-file) is unreadable, too large or breaks its format; the previous endpoints stay',
  ERR_ENDPOINTS_PROBLEM:
    'a service: upstream names a port its EndpointSlices do not have, or a Service has none (sidecar, warning)',
  ERR_ENDPOINTS_WRITE: 'the sidecar cannot write --endpoints-file; retried',
  ERR_ENDPOINTS_REJECTED:
    'the proxy answered the endpoints command with an error; it keeps its endpoints',
  ERR_INTERNAL: 'an unexpected failure (a bug): the log has the stack',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base of every deliberate error: a stable `code` and a message meant for an operator. */
export class ProxyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProxyError';
    this.code = code;
  }
}

/** One rule a config breaks, with the path to the value and the YAML line when known. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
  readonly line?: number | undefined;
  /** Where a YAML syntax error is within its line; a path names the place otherwise. */
  readonly column?: number | undefined;
}

/** A config that parsed but breaks rules; `issues` holds every one of them, not only the first. */
export class ConfigInvalidError extends ProxyError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super('ERR_CONFIG_INVALID', `config is invalid (${issues.length} error(s))`);
    this.name = 'ConfigInvalidError';
    this.issues = issues;
  }
}

/**
 * A config that is not YAML (or bombs its aliases): one issue, at the document's root, with
 * the line and column when the parser gives them. The message keeps the file name; the issue
 * is what the log shows, in the shape of a ConfigInvalidError's.
 */
export class ConfigParseError extends ProxyError {
  readonly issues: readonly ConfigIssue[];
  constructor(sourceName: string, issue: Omit<ConfigIssue, 'path'>) {
    const at =
      issue.line === undefined
        ? ''
        : ` at line ${issue.line}${issue.column === undefined ? '' : `, column ${issue.column}`}`;
    super('ERR_CONFIG_PARSE', `${sourceName}: ${issue.message}${at}`);
    this.name = 'ConfigParseError';
    this.issues = [{ path: '', ...issue }];
  }
}

/** Formats one issue the way `validate` prints it: `path: message (line N)`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.path === '' ? '(root)' : issue.path;
  const column = issue.column === undefined ? '' : `, column ${issue.column}`;
  const line = issue.line === undefined ? '' : ` (line ${issue.line}${column})`;
  return `${where}: ${issue.message}${line}`;
}

/**
 * What a log line says about a failure, in one shape for every deliberate error: its `code`
 * and `errors`, one `path: message (line N)` per problem for a config, else the message. The
 * operator fixes a file from these; a stack trace would only bury them. Anything else is a bug,
 * logged with its stack as `err`.
 */
export function errorLogFields(
  err: unknown,
): { code: ErrorCode; errors: string[] } | { code: ErrorCode; err: unknown } {
  if (err instanceof ConfigInvalidError || err instanceof ConfigParseError) {
    return { code: err.code, errors: err.issues.map(formatIssue) };
  }
  if (isProxyError(err)) return { code: err.code, errors: [err.message] };
  return { code: 'ERR_INTERNAL', err };
}

export function isProxyError(err: unknown): err is ProxyError {
  return err instanceof ProxyError;
}

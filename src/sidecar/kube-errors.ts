import { ApiException } from '@kubernetes/client-node';

/** A failed Kubernetes API request, described for a log line an operator can act on. */
export interface KubeFailure {
  readonly verb: string;
  readonly forbidden: boolean;
  /** The HTTP status (or a watch ERROR event's code), when there was one. */
  readonly status?: number | undefined;
  readonly detail: string;
}

/**
 * Normalises what client-node throws: ApiException from the generated client (list, create),
 * an Error with `statusCode` from Watch, undici's "fetch failed" with the socket error as cause.
 */
export function describeKubeError(err: unknown, verb: string): KubeFailure {
  let status: number | undefined;
  let detail: string;
  if (err instanceof ApiException) {
    status = err.code;
    detail = statusMessage(err.body) ?? `HTTP ${err.code}`;
  } else if (err instanceof Error) {
    const code = (err as { statusCode?: unknown }).statusCode;
    if (typeof code === 'number') status = code;
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const causeText =
      cause === undefined ? '' : ` (${String(cause.code ?? cause.message ?? 'unknown cause')})`;
    detail = `${status === undefined ? '' : `HTTP ${status}: `}${err.message}${causeText}`;
  } else {
    detail = String(err);
  }
  return { verb, forbidden: status === 403, status, detail };
}

/** The `message` of a Kubernetes Status body, which names the user, verb and resource. */
function statusMessage(body: unknown): string | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body === '' ? undefined : body.slice(0, 500);
    }
  }
  if (value !== null && typeof value === 'object' && 'message' in value) {
    return String(value.message).slice(0, 500);
  }
  return undefined;
}

import type { CorsConfig } from '../config/types.ts';
import type { RouteGate } from '../access/route-gate.ts';

/** A route's `cors`, compiled once per config: header values joined, origins lower-cased. */
export interface CorsPolicy {
  /** `allow_origins: ['*']` (never with credentials: the schema refuses it). */
  readonly anyOrigin: boolean;
  /** Lower-cased: browsers send scheme and host in lower case, but a client need not. */
  readonly origins: ReadonlySet<string>;
  readonly credentials: boolean;
  readonly allowMethods: string;
  /** Undefined: none listed, so no header (only the safelisted ones may be sent). */
  readonly allowHeaders: string | undefined;
  readonly exposeHeaders: string | undefined;
  readonly maxAge: string | undefined;
  /**
   * The route's gate without its authentication: a browser never sends credentials on a
   * preflight (Fetch standard, CORS-preflight request), so asking for them would fail every
   * cross-origin call. Address lists, the rate limit and the body limit still hold.
   */
  readonly preflightGate: RouteGate | undefined;
}

export function compileCors(
  cors: CorsConfig | undefined,
  gate: RouteGate | undefined,
): CorsPolicy | undefined {
  if (cors === undefined) return undefined;
  const joined = (names: readonly string[]) => (names.length === 0 ? undefined : names.join(', '));
  return Object.freeze({
    anyOrigin: cors.allow_origins.includes('*'),
    origins: new Set(cors.allow_origins.map((o) => o.toLowerCase())),
    credentials: cors.allow_credentials,
    allowMethods: cors.allow_methods.join(', '),
    allowHeaders: joined(cors.allow_headers),
    exposeHeaders: joined(cors.expose_headers),
    maxAge: cors.max_age_s === undefined ? undefined : String(cors.max_age_s),
    preflightGate: withoutAuthentication(gate),
  });
}

function withoutAuthentication(gate: RouteGate | undefined): RouteGate | undefined {
  if (gate === undefined) return undefined;
  if (
    gate.deny === undefined &&
    gate.allow === undefined &&
    gate.rateLimit === undefined &&
    gate.maxBodyBytes === undefined
  ) {
    return undefined;
  }
  return Object.freeze({ ...gate, basicAuth: undefined, forwardAuth: undefined });
}

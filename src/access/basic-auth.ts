import type { BasicAuthConfig } from '../config/types.ts';
import type { BasicAuthChecker, GateRequest } from './request-gate.ts';
import { LoginCache } from './login-cache.ts';

/** What compares a password with a bcrypt hash, off the event loop (access/bcrypt-pool.ts). */
export interface PasswordHasher {
  compare(password: string, hash: string): Promise<boolean>;
}

/** Credentials a request carries: none, unusable ones, or a user and password. */
export type BasicCredentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed' }
  | {
      readonly kind: 'basic';
      /** The header's value as sent: the login cache's key. */
      readonly authorization: string;
      readonly user: string;
      readonly password: string;
    };

const NONE: BasicCredentials = { kind: 'none' };
const MALFORMED: BasicCredentials = { kind: 'malformed' };
const BASIC = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `Authorization: Basic base64(user:password)` (RFC 7617), user and password as UTF-8. The
 * user ends at the first colon (a user name cannot hold one; a password can). A header sent
 * twice, another scheme, base64 that is not, bytes that are not UTF-8, or no colon: malformed.
 */
export function basicCredentials(rawHeaders: readonly string[]): BasicCredentials {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      if (value !== undefined) return MALFORMED;
      value = rawHeaders[i + 1] as string;
    }
  }
  if (value === undefined) return NONE;
  const encoded = BASIC.exec(value)?.[1];
  if (encoded === undefined || encoded.length % 4 === 1) return MALFORMED;
  let decoded: string;
  try {
    decoded = UTF8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return MALFORMED;
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) return MALFORMED;
  return {
    kind: 'basic',
    authorization: value,
    user: decoded.slice(0, colon),
    password: decoded.slice(colon + 1),
  };
}

export interface BasicAuthOptions {
  readonly hasher: PasswordHasher;
  /** Counts a request whose credentials were wrong (reverse_proxy_basic_auth_failures_total). */
  readonly onFailure: (route: GateRequest['route']) => void;
  readonly cache?: LoginCache | undefined;
  readonly now?: () => number;
}

/**
 * `access.basic_auth`: the request's credentials against the users of the htpasswd file as
 * the snapshot it was routed on holds them. The password never leaves this check: it is not
 * logged, not kept (the cache keeps an HMAC), and a failure is counted, not described.
 * - No Authorization header: false (the browser's first request; not counted as a failure).
 * - A login verified a moment ago (LoginCache): true at once, with no bcrypt.
 * - Otherwise one bcrypt comparison, on a thread: with the user's hash, or, for a user the
 *   file does not have, with the file's dummy hash of the same cost, so a wrong name takes as
 *   long as a wrong password and the answer's timing does not tell which users exist.
 * Concurrent checks of the same header share one comparison (a browser opening six
 * connections at once pays one bcrypt, and so does a guess sent many times in parallel).
 */
export class BasicAuthVerifier implements BasicAuthChecker {
  readonly #hasher: PasswordHasher;
  readonly #onFailure: BasicAuthOptions['onFailure'];
  readonly #cache: LoginCache;
  readonly #now: () => number;
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(options: BasicAuthOptions) {
    this.#hasher = options.hasher;
    this.#onFailure = options.onFailure;
    this.#cache = options.cache ?? new LoginCache();
    this.#now = options.now ?? Date.now;
  }

  check(config: BasicAuthConfig, request: GateRequest): boolean | Promise<boolean> {
    const credentials = basicCredentials(request.req.rawHeaders);
    if (credentials.kind === 'none') return false;
    // The snapshot always holds the files its config names; fail closed all the same.
    const file = request.snapshot.htpasswd.files.get(config.htpasswd_file);
    if (credentials.kind === 'malformed' || file === undefined) {
      this.#onFailure(request.route);
      return false;
    }
    const key = this.#cache.keyOf(file.sha256, credentials.authorization);
    if (this.#cache.has(key, this.#now())) return true;
    let verdict = this.#pending.get(key);
    if (verdict === undefined) {
      const hash = file.users.get(credentials.user);
      verdict = this.#hasher
        .compare(credentials.password, hash ?? file.dummy)
        .then((ok) => {
          const yes = ok && hash !== undefined;
          if (yes) this.#cache.add(key, this.#now());
          return yes;
        })
        .finally(() => this.#pending.delete(key));
      this.#pending.set(key, verdict);
    }
    return verdict.then((ok) => {
      if (!ok) this.#onFailure(request.route);
      return ok;
    });
  }
}

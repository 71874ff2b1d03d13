import { createHmac, randomBytes } from 'node:crypto';

/** How long a verified login is remembered: a logged-in client pays one bcrypt a minute. */
export const LOGIN_TTL_MS = 60_000;
/** Logins remembered at most; past it the oldest is forgotten first. About 1.5 MB. */
export const MAX_LOGINS = 10_000;

/**
 * Logins that bcrypt verified a moment ago, so a client sending the same Authorization header
 * on every request does not pay a bcrypt (50-300 ms of CPU) each time. Only successes are kept.
 * An entry is keyed by an HMAC, under a key drawn at random for this process, of the htpasswd
 * file's content hash and the whole header value: the cache holds no password nor anything to
 * test a guess against offline, and a file that changes (a user removed, a password changed)
 * makes every entry of its old content unreachable at once. Entries live LOGIN_TTL_MS from
 * their verification (not from their last use) and there are at most MAX_LOGINS.
 */
export class LoginCache {
  readonly #key = randomBytes(32);
  /** Key to expiry time; Map order is insertion order, so the first entry is the oldest. */
  readonly #entries = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(ttlMs = LOGIN_TTL_MS, max = MAX_LOGINS) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  /** The cache key of an Authorization value checked against the file of this content hash. */
  keyOf(fileSha256: string, authorization: string): string {
    return createHmac('sha256', this.#key)
      .update(fileSha256)
      .update('\0')
      .update(authorization)
      .digest('base64');
  }

  has(key: string, now: number): boolean {
    const expires = this.#entries.get(key);
    if (expires === undefined) return false;
    if (expires > now) return true;
    this.#entries.delete(key);
    return false;
  }

  add(key: string, now: number): void {
    this.#entries.delete(key);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, now + this.#ttlMs);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The fuzzer's randomness (bench/fuzz.ts): a small seeded PRNG, one stream per case, and the
 * plan by which a payload is cut into TCP writes. Every case draws from its own stream, seeded
 * from (seed, phase, index), so case 4,711 is the same bytes and the same splits whatever ran
 * before it, at any concurrency: a failure reproduces with `--seed S --case phase:4711`.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** mulberry32: 32 bits of state, fast, and the same sequence on every machine. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** FNV-1a over a string's UTF-16 units: spreads (seed, phase, index) over the 32-bit seeds. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&*+^`|~';
/** unreserved (RFC 3986): what a plain path segment or query word is made of. */
const WORD_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';
const VISIBLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

export class Rng {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }

  /** The stream of one case: the same for the same parts, independent of every other case. */
  static of(...parts: readonly (string | number)[]): Rng {
    return new Rng(hash32(parts.join(':')));
  }

  float(): number {
    return this.#next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }

  /** An integer in [lo, hi], both included. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.#next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** One value from [weight, value] pairs, in proportion to the weights. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    const total = table.reduce((n, [w]) => n + w, 0);
    let roll = this.float() * total;
    for (const [weight, value] of table) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return (table[table.length - 1] as readonly [number, T])[1];
  }

  /** A size skewed towards small ones (most bodies are small) but reaching `max`. */
  size(max: number): number {
    return Math.floor(max ** this.float()) - 1 + this.int(2);
  }

  token(min = 1, max = 12): string {
    return this.#chars(TOKEN_CHARS, this.range(min, max));
  }

  word(min = 1, max = 12): string {
    return this.#chars(WORD_CHARS, this.range(min, max));
  }

  /** Printable ASCII (space included), what a header value normally holds. */
  visible(length: number): string {
    return this.#chars(VISIBLE, length);
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }

  #chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

/** A payload cut into writes: `gaps[i]` ms before piece i + 1 (0: the next setImmediate). */
export interface WritePlan {
  readonly pieces: readonly Buffer[];
  readonly gaps: readonly number[];
}

/** Sum of the pauses of one plan at most: well under the 1 s header and body timeouts. */
const MAX_PAUSES_MS = 400;

/**
 * Random cut points (one write, a few, many, or the first bytes one at a time, which is where
 * a parser's state machine splits hardest), with setImmediate between most writes and short
 * sleeps between some: on loopback each write then arrives as its own TCP read.
 */
export function splitPlan(rng: Rng, bytes: Buffer): WritePlan {
  const cuts = new Set<number>();
  const shape = rng.weighted([
    [25, 'whole'],
    [45, 'few'],
    [25, 'many'],
    [5, 'bytewise'],
  ] as const);
  if (shape === 'few' || shape === 'many') {
    const count = shape === 'few' ? rng.range(1, 3) : rng.range(4, 15);
    for (let i = 0; i < count; i++) cuts.add(1 + rng.int(Math.max(1, bytes.length - 1)));
  } else if (shape === 'bytewise') {
    for (let i = 1; i < Math.min(bytes.length, 48); i++) cuts.add(i);
  }
  const sorted = [...cuts].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...sorted, bytes.length]) {
    pieces.push(bytes.subarray(from, cut));
    from = cut;
  }
  let budget = MAX_PAUSES_MS;
  const gaps = pieces.slice(1).map(() => {
    const gap = rng.weighted([
      [85, 0],
      [12, rng.range(1, 10)],
      [3, rng.range(20, 200)],
    ]);
    const granted = Math.min(gap, budget);
    budget -= granted;
    return granted;
  });
  return { pieces, gaps };
}

/**
 * Writes a plan's pieces with its pauses; stops early (false) once `stop()` says so (the peer
 * closed, or the exchange gave up). Write errors are the peer's business: it may close first.
 */
export async function writePlan(
  socket: Socket,
  plan: WritePlan,
  stop: () => boolean,
): Promise<boolean> {
  for (let i = 0; i < plan.pieces.length; i++) {
    if (stop() || socket.destroyed || !socket.writable) return false;
    socket.write(plan.pieces[i] as Buffer);
    if (i === plan.pieces.length - 1) break;
    const gap = plan.gaps[i] ?? 0;
    if (gap === 0) await new Promise((resolve) => setImmediate(resolve));
    else await sleep(gap);
  }
  return true;
}

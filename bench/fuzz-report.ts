/**
 * What bench/fuzz.ts counts, keeps and concludes: per-phase tallies, the files of failing
 * cases, the RSS rule, and the summary (printed, and written as summary.json).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostileCase, RequestCase } from './fuzz-requests.ts';
import { hostileReply } from './fuzz-responses.ts';

export const MB = 2 ** 20;
export const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

/**
 * The RSS rule: growth once warm, not growth from a cold start. On the node:http engine
 * (af1e529) a fresh proxy sat at ~94 MB and climbed 40-110 MB within the first ~10,000
 * requests of a phase (V8 fills its 16 MB semi-spaces and lets the old generation grow before
 * it collects: with FUZZ_NODE_FLAGS=--max-old-space-size=40 the same load plateaued ~40 MB
 * lower, and passed), then stayed flat, and did not come down when the load stopped. A leak
 * grows with traffic instead. So each stretch of a phase on one process (a restart starts a
 * new one) of at least WARM_REQUESTS requests must end within RSS_WARM_GROWTH of its RSS at
 * its midpoint: 32 MB over 50,000 requests is ~670 bytes per request, or per connection
 * (~25,000 in phase 1, ~37,000 in phase 2). Shorter runs (`--quick`) are not judged on it.
 * Whatever the length, the peak must stay within RSS_CEILING of the start: a burst that large
 * is a bug even if it is freed later.
 */
export const RSS_WARM_GROWTH = 32 * MB;
export const WARM_REQUESTS = 20_000;
export const RSS_CEILING = 512 * MB;

/** Failing cases saved per kind (crash suspects excepted): the first ones tell the story. */
const SAVE_LIMIT = 25;

export type AnyCase = RequestCase | HostileCase;

/** `requests:123`, as `--case` takes it. */
export const caseName = (c: AnyCase) => `${c.phase}:${c.index}`;

/** What one phase saw. */
export interface PhaseReport {
  cases: number;
  requests: number;
  bytes: number;
  /** Counts by outcome: '2xx' ... '5xx', 'closed', 'cut', 'aborted', 'hang', 'malformed'. */
  readonly classes: Record<string, number>;
  readonly statuses: Record<number, number>;
  hangs: number;
  connectErrors: number;
  malformed: number;
  ms: number;
  /** One per proxy process the phase ran against (more than one after `--keep-going`). */
  readonly segments: Segment[];
}

/** A stretch of a phase on one proxy process: its requests [from, to) and RSS. */
export interface Segment {
  readonly from: number;
  readonly to: number;
  /** RSS when the segment had sent half its requests, and at its end. */
  readonly rssMid: number;
  rssEnd: number;
}

export function newReport(): PhaseReport {
  return {
    cases: 0,
    requests: 0,
    bytes: 0,
    classes: {},
    statuses: {},
    hangs: 0,
    connectErrors: 0,
    malformed: 0,
    ms: 0,
    segments: [],
  };
}

export const bump = (counts: Record<string | number, number>, key: string | number) =>
  (counts[key] = (counts[key] ?? 0) + 1);

export function countStatus(report: PhaseReport, status: number): void {
  bump(report.statuses, status);
  bump(report.classes, `${Math.floor(status / 100)}xx`);
}

/** One time the proxy died. */
export interface CrashRecord {
  readonly phase: string;
  /** Requests the phase had sent when the death was seen. */
  readonly atRequest: number;
  readonly exit: string;
  /** The cases in flight (oldest first), then the last ones done (newest first). */
  readonly suspects: readonly AnyCase[];
  /** The proxy's last lines (its stack trace, for a crash). */
  readonly tail: readonly string[];
  /** The fewest suspects found to kill a fresh proxy (filled in by the triage). */
  reproduced: string[];
}

/** Writes a failing case's files (payload, what came back, a description) under `out/kind/`. */
export class Evidence {
  readonly #out: string;
  readonly #saved: Record<string, number> = {};

  constructor(out: string) {
    this.#out = out;
  }

  get dir(): string {
    return this.#out;
  }

  async save(kind: string, name: string, files: Record<string, Buffer | string>): Promise<void> {
    // Every suspect of a crash is kept: the culprit is one of them.
    if (bump(this.#saved, kind) > (kind === 'crash' ? Infinity : SAVE_LIMIT)) return;
    const dir = join(this.#out, kind);
    await mkdir(dir, { recursive: true });
    for (const [suffix, data] of Object.entries(files)) {
      await writeFile(join(dir, `${name}.${suffix}`), data);
    }
  }

  /** A case's bytes (in phase 2, the hostile replies too), its description, what came back. */
  async saveCase(
    kind: string,
    c: AnyCase,
    extra: Record<string, unknown> = {},
    received?: Buffer,
  ): Promise<void> {
    const files: Record<string, Buffer | string> = { 'sent.bin': c.bytes };
    if (c.phase === 'responses') {
      c.requests.forEach((r, i) => {
        files[`reply${i}.bin`] = hostileReply(r.method, r.target).bytes;
      });
    }
    if (received !== undefined) files['received.bin'] = received;
    files['case.json'] = describe(c, extra);
    await this.save(kind, `${c.phase}-${c.index}`, files);
  }
}

/** A case as JSON: what was done to it and how it was written. */
export function describe(c: AnyCase, extra: Record<string, unknown> = {}): string {
  const { bytes, plan, ...rest } = c;
  const json = {
    ...rest,
    length: bytes.length,
    writes: plan.pieces.map((p) => p.length),
    gapsMs: plan.gaps,
    ...extra,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/** RSS rule violations (see RSS_WARM_GROWTH); the peak is checked by the caller. */
export function rssFailures(phases: Readonly<Record<string, PhaseReport>>): string[] {
  const failures: string[] = [];
  for (const [name, r] of Object.entries(phases)) {
    for (const { from, to, rssMid, rssEnd } of r.segments) {
      const growth = rssEnd - rssMid;
      if (to - from >= WARM_REQUESTS && rssMid > 0 && growth > RSS_WARM_GROWTH) {
        failures.push(
          `RSS grew ${mb(growth)} from request ${Math.round((from + to) / 2)} to ${to} of ${name} ` +
            `(bound ${mb(RSS_WARM_GROWTH)})`,
        );
      }
    }
  }
  return failures;
}

export function phaseLines(name: string, r: PhaseReport): string[] {
  const classes = Object.entries(r.classes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const top = Object.entries(r.statuses)
    .sort(([, a], [, b]) => b - a)
    .slice(0, 12)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ');
  const seconds = (r.ms / 1000).toFixed(0);
  return [
    `${name}: ${r.requests} requests in ${r.cases} connections, ${mb(r.bytes)} sent, ${seconds} s`,
    `  outcomes: ${classes}`,
    `  statuses: ${top}`,
    `  hangs ${r.hangs}, malformed ${r.malformed}, connect errors ${r.connectErrors}`,
    ...r.segments.map(
      (g) =>
        `  RSS over requests ${g.from}-${g.to}: ${mb(g.rssMid)} at the midpoint, ${mb(g.rssEnd)} at the end`,
    ),
  ];
}

export function crashLines(crashes: readonly CrashRecord[]): string[] {
  const lines: string[] = [];
  for (const [i, crash] of crashes.entries()) {
    lines.push(
      `crash ${i + 1}: ${crash.exit} in ${crash.phase} at request ${crash.atRequest}; ` +
        `reproduced by: ${crash.reproduced.join(' ') || 'no replay of its suspects'}; ` +
        `${crash.suspects.length} suspects (files in crash/)`,
    );
    const trace = crash.tail.filter((l) => /Error|^\s+at |code:/.test(l)).slice(0, 14);
    lines.push(...trace.map((l) => `  | ${l}`));
  }
  return lines;
}

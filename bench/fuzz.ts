/**
 * `npm run fuzz -- [--requests N] [--responses M] [--seed S] [--cli PATH] [--quick]
 * [--concurrency C] [--case requests:I | responses:I] [--out DIR] [--max-minutes T]`:
 * a black-box fuzzer of the proxy's HTTP/1.1 data path, for any build of it (`--cli`, by default
 * this tree's dist/cli.js: `npm run build` first).
 *
 *  1. requests: N (default 100,000) generated or mutated requests (fuzz-requests.ts), written
 *     in random splits on C (default 32) connections at once, to a recording upstream;
 *  2. responses: M (default 100,000) valid requests to a hostile upstream whose replies are
 *     generated or mutated (fuzz-responses.ts), also in random splits.
 *
 * Every exchange must end within a bound derived from the timeouts (fuzz-proxy.ts), or it is a
 * hang; the proxy must stay up (a crash is its process exiting); its RSS, sampled every second,
 * must stop growing once warm (rssFailures()). The fuzzer's own framing also checks what the
 * proxy writes: responses its client cannot frame, requests its upstreams cannot frame, and
 * upstream connections stalled on purpose that the proxy never closes. Each failing case is
 * saved under `--out` (default bench/results/fuzz-SEED) and replays alone with
 * `--seed S --case phase:I`. Exits 1 on any of these, or when the time cap (`--max-minutes`,
 * 90 by default) stops the run short. `--quick`: 2,000 + 2,000, for CI. Loopback only;
 * FUZZ_NODE_FLAGS adds flags to the proxy's node; it stops the processes it started, by PID.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { requestExchange, responseExchange } from './fuzz-client.ts';
import type { RequestOutcome, ResponseOutcome } from './fuzz-client.ts';
import {
  fuzzConfig,
  installTraps,
  REQUEST_BOUND_MS,
  RESPONSE_BOUND_MS,
  RssSampler,
  startProxy,
} from './fuzz-proxy.ts';
import type { ProxyUnderFuzz } from './fuzz-proxy.ts';
import { hostileCase, requestCase } from './fuzz-requests.ts';
import type { HostileCase, RequestCase } from './fuzz-requests.ts';
import { hostileReply } from './fuzz-responses.ts';
import { startHostileUpstream, startRecordingUpstream } from './fuzz-upstreams.ts';
import type { FuzzUpstream } from './fuzz-upstreams.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MB = 2 ** 20;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

/** See rssFailures(). */
const RSS_WARM_GROWTH = 32 * MB;
const WARM_REQUESTS = 20_000;
const RSS_CEILING = 512 * MB;
/** Cases a phase runs between two checks that the proxy is alive, and progress lines. */
const BATCH = 1_000;
/** Failing cases saved per kind: the first ones tell the story. */
const SAVE_LIMIT = 25;
/** Completed cases remembered for a crash report (besides the ones in flight). */
const RECENT = 32;

const say = (text: string) => process.stderr.write(`[fuzz] ${text}\n`);

interface Options {
  readonly requests: number;
  readonly responses: number;
  readonly seed: number;
  readonly cli: string;
  readonly concurrency: number;
  readonly out: string;
  readonly maxMs: number;
  readonly only: { phase: 'requests' | 'responses'; index: number } | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' },
      responses: { type: 'string' },
      seed: { type: 'string' },
      cli: { type: 'string' },
      quick: { type: 'boolean', default: false },
      concurrency: { type: 'string' },
      case: { type: 'string' },
      out: { type: 'string' },
      'max-minutes': { type: 'string' },
    },
  });
  const int = (text: string | undefined, fallback: number, name: string) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number`);
    return n;
  };
  const quick = values.quick;
  const seed = int(values.seed, 1, 'seed');
  const only = values.case === undefined ? undefined : parseCase(values.case);
  return {
    requests: int(values.requests, quick ? 2_000 : 100_000, 'requests'),
    responses: int(values.responses, quick ? 2_000 : 100_000, 'responses'),
    seed,
    cli: values.cli ?? join(ROOT, 'dist', 'cli.js'),
    concurrency: Math.max(1, int(values.concurrency, 32, 'concurrency')),
    out: values.out ?? join(ROOT, 'bench', 'results', `fuzz-${seed}`),
    maxMs: int(values['max-minutes'], quick ? 10 : 90, 'max-minutes') * 60_000,
    only,
  };
}

function parseCase(text: string): Options['only'] {
  const match = /^(requests|responses):(\d+)$/.exec(text);
  if (match === null) throw new Error('--case takes requests:INDEX or responses:INDEX');
  return { phase: match[1] as 'requests' | 'responses', index: Number(match[2]) };
}

/** What one phase saw, for the summary. */
interface PhaseReport {
  cases: number;
  requests: number;
  bytes: number;
  /** Counts by outcome: '2xx' ... '5xx', 'closed', 'cut', 'aborted', 'malformed'. */
  readonly classes: Record<string, number>;
  readonly statuses: Record<number, number>;
  hangs: number;
  connectErrors: number;
  malformed: number;
  ms: number;
  /** RSS when the phase reached half its requests, and when it ended. */
  rssMid: number;
  rssEnd: number;
  /** The cases that were running or had just run when the proxy died. */
  crashCases: number[];
}

function newReport(): PhaseReport {
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
    rssMid: 0,
    rssEnd: 0,
    crashCases: [],
  };
}

const bump = (counts: Record<string | number, number>, key: string | number) =>
  (counts[key] = (counts[key] ?? 0) + 1);

function countStatus(report: PhaseReport, status: number): void {
  bump(report.statuses, status);
  bump(report.classes, `${Math.floor(status / 100)}xx`);
}

/** Writes a failing case's files (payload, what came back, a description) under `out/kind/`. */
class Evidence {
  readonly #out: string;
  readonly #saved: Record<string, number> = {};

  constructor(out: string) {
    this.#out = out;
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
}

/** A case as JSON for its report: what was done to it and how it was written. */
function describe(c: RequestCase | HostileCase, extra: Record<string, unknown> = {}): string {
  const { bytes, plan, ...rest } = c;
  return `${JSON.stringify(
    {
      ...rest,
      length: bytes.length,
      writes: plan.pieces.map((p) => p.length),
      gapsMs: plan.gaps,
      ...extra,
    },
    null,
    2,
  )}\n`;
}

/** The files that reproduce one case: its bytes and, in phase 2, the hostile replies. */
function caseFiles(c: RequestCase | HostileCase): Record<string, Buffer | string> {
  const files: Record<string, Buffer | string> = { 'sent.bin': c.bytes };
  if (c.phase === 'responses') {
    c.requests.forEach((r, i) => (files[`reply${i}.bin`] = hostileReply(r.method, r.target).bytes));
  }
  return files;
}

interface Runner<C> {
  readonly phase: 'requests' | 'responses';
  /** The case of this index, and how many requests it holds. */
  make(index: number): C & { readonly bytes: Buffer; readonly index: number };
  requestsIn(c: C): number;
  /** Runs one case and records its outcome; resolves once the exchange is over. */
  run(c: C): Promise<void>;
}

/** What every phase shares. */
interface Run {
  readonly o: Options;
  readonly proxy: ProxyUnderFuzz;
  readonly evidence: Evidence;
  /** Epoch ms: the time cap. */
  readonly deadline: number;
  readonly rss: RssSampler;
  /** Epoch ms: when the load began. */
  readonly began: number;
}

/**
 * Runs cases on `concurrency` connections until `total` requests were sent, the proxy died,
 * or the deadline passed. The proxy is checked before every case (its exit is an event), so a
 * crash stops the phase at once; then the cases in flight and the last ones done are saved.
 * A progress line every BATCH cases (10 s apart at most).
 */
async function runPhase<C extends RequestCase | HostileCase>(
  runner: Runner<C>,
  total: number,
  report: PhaseReport,
  { o, proxy, evidence, deadline, rss }: Run,
): Promise<void> {
  const started = Date.now();
  const inFlight = new Map<number, C>();
  const recent: C[] = [];
  let next = 0;
  let lastProgress = Date.now();
  const more = () => report.requests < total && proxy.exit() === undefined && Date.now() < deadline;
  const worker = async () => {
    while (more()) {
      const c = runner.make(next++);
      report.cases++;
      report.requests += runner.requestsIn(c);
      report.bytes += c.bytes.length;
      if (report.rssMid === 0 && report.requests >= total / 2) report.rssMid = rss.sample();
      inFlight.set(c.index, c);
      await runner.run(c);
      inFlight.delete(c.index);
      recent.push(c);
      if (recent.length > RECENT) recent.shift();
      if (report.cases % BATCH === 0 && Date.now() - lastProgress > 10_000) {
        lastProgress = Date.now();
        say(
          `${runner.phase}: ${report.requests}/${total} requests in ${report.cases} cases, ` +
            `${Math.round((Date.now() - started) / 1000)} s, hangs ${report.hangs}, ` +
            `RSS ${mb(rss.last)} (peak ${mb(rss.peak)})`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  report.ms = Date.now() - started;
  report.rssEnd = rss.sample();
  if (proxy.exit() !== undefined) {
    const suspects = [...inFlight.values(), ...recent];
    report.crashCases = suspects.map((c) => c.index);
    for (const c of suspects) {
      await evidence.save('crash', `${runner.phase}-${c.index}`, {
        ...caseFiles(c),
        'case.json': describe(c),
      });
    }
  }
}

function requestRunner(
  o: Options,
  port: number,
  report: PhaseReport,
  evidence: Evidence,
): Runner<RequestCase> {
  return {
    phase: 'requests',
    make: (index) => requestCase(o.seed, index),
    requestsIn: (c) => c.messages,
    run: async (c) => record(c, await requestExchange(port, c, REQUEST_BOUND_MS)),
  };
  async function record(c: RequestCase, out: RequestOutcome): Promise<void> {
    if (out.connectError !== undefined) report.connectErrors++;
    for (const status of out.statuses) countStatus(report, status);
    if (out.aborted) bump(report.classes, 'aborted');
    else if (out.hang) bump(report.classes, 'hang');
    else if (out.statuses.length === 0 && out.connectError === undefined) {
      bump(report.classes, 'closed');
    }
    if (!out.hang) return;
    report.hangs++;
    say(`HANG requests:${c.index} (${c.ending}, ${c.labels.join(' ')})`);
    await evidence.save('hang', `requests-${c.index}`, {
      ...caseFiles(c),
      'received.bin': out.bytes,
      'case.json': describe(c, {
        received: out.total,
        closed: out.closed,
        boundMs: REQUEST_BOUND_MS,
      }),
    });
  }
}

function responseRunner(
  o: Options,
  port: number,
  report: PhaseReport,
  evidence: Evidence,
): Runner<HostileCase> {
  return {
    phase: 'responses',
    make: (index) => hostileCase(o.seed, index),
    requestsIn: (c) => c.requests.length,
    run: async (c) => record(c, await responseExchange(port, c, RESPONSE_BOUND_MS)),
  };
  async function record(c: HostileCase, out: ResponseOutcome): Promise<void> {
    if (out.connectError !== undefined) report.connectErrors++;
    for (const answer of out.answers) {
      if (answer.kind === 'status') countStatus(report, answer.status);
      else bump(report.classes, answer.kind);
    }
    const kind = out.hang ? 'hang' : out.malformed !== undefined ? 'malformed' : undefined;
    if (kind === undefined) return;
    if (out.hang) report.hangs++;
    else report.malformed++;
    bump(report.classes, kind);
    say(
      `${kind.toUpperCase()} responses:${c.index} ${out.malformed ?? ''} (${c.labels.join(', ')})`,
    );
    await evidence.save(kind, `responses-${c.index}`, {
      ...caseFiles(c),
      'received.bin': out.bytes,
      'case.json': describe(c, {
        malformed: out.malformed,
        answers: out.answers,
        replies: c.requests.map((r) => hostileReply(r.method, r.target).labels),
        received: out.total,
        closed: out.closed,
        boundMs: RESPONSE_BOUND_MS,
      }),
    });
  }
}

/** Runs one case against the fresh proxy and prints everything about it (`--case`). */
async function replay(o: Options, port: number): Promise<void> {
  const only = o.only as NonNullable<Options['only']>;
  const c =
    only.phase === 'requests' ? requestCase(o.seed, only.index) : hostileCase(o.seed, only.index);
  const out =
    c.phase === 'requests'
      ? await requestExchange(port, c, REQUEST_BOUND_MS)
      : await responseExchange(port, c, RESPONSE_BOUND_MS);
  const show = (b: Buffer) => JSON.stringify(b.subarray(0, 4_096).toString('latin1'));
  process.stdout.write(describe(c));
  process.stdout.write(`sent: ${show(c.bytes)}\n`);
  if (c.phase === 'responses') {
    for (const r of c.requests)
      process.stdout.write(
        `reply to ${r.method} ${r.target}: ${show(hostileReply(r.method, r.target).bytes)}\n`,
      );
  }
  const { bytes, ...rest } = out;
  process.stdout.write(`outcome: ${JSON.stringify(rest)}\nreceived: ${show(bytes)}\n`);
}

/**
 * After the load: waits (30 s at most) for the stalled upstream connections to be closed and
 * for RSS to stop falling (5 samples in a row). Idle pooled upstream connections may stay:
 * the proxy keeps them 60 s.
 */
async function settle(rss: RssSampler, upstreams: readonly FuzzUpstream[]): Promise<void> {
  const until = Date.now() + 30_000;
  let previous = rss.sample();
  let steady = 0;
  while (Date.now() < until && steady < 5) {
    await sleep(1_000);
    const now = rss.sample();
    const stalled = upstreams.reduce((n, u) => n + u.stalled(), 0);
    steady = stalled === 0 && now >= previous - MB ? steady + 1 : 0;
    previous = now;
  }
}

function phaseLines(name: string, r: PhaseReport): string[] {
  const classes = Object.entries(r.classes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const top = Object.entries(r.statuses)
    .sort(([, a], [, b]) => b - a)
    .slice(0, 12)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ');
  return [
    `${name}: ${r.requests} requests in ${r.cases} connections, ${mb(r.bytes)} sent, ${(r.ms / 1000).toFixed(0)} s`,
    `  outcomes: ${classes}`,
    `  statuses: ${top}`,
    `  hangs ${r.hangs}, malformed ${r.malformed}, connect errors ${r.connectErrors}`,
  ];
}

async function main(): Promise<void> {
  const o = options();
  if (!existsSync(o.cli))
    throw new Error(`${o.cli} does not exist: run \`npm run build\` first, or pass --cli`);
  const dir = await mkdtemp(join(tmpdir(), 'rp-fuzz-'));
  installTraps(() => rmSync(dir, { recursive: true, force: true }));
  const recording = await startRecordingUpstream();
  const hostile = await startHostileUpstream();
  const configPath = join(dir, 'fuzz.yaml');
  await writeFile(configPath, fuzzConfig(recording.url, hostile.url));
  const proxy = await startProxy(o.cli, configPath);
  try {
    if (o.only !== undefined) return await replay(o, proxy.port);
    await fuzz(o, proxy, recording, hostile);
  } finally {
    await proxy.stop();
    await recording.close();
    await hostile.close();
  }
}

/** What a run ends with, whatever its phases saw. */
interface Ending {
  readonly crashed: string | undefined;
  readonly stalled: number;
  readonly timedOut: boolean;
  readonly rss: RssSampler;
  /** After the settle (0 after a crash). */
  readonly rssEnd: number;
}

/**
 * The RSS check. Growth once warm, not growth from a cold start: a fresh proxy sits at ~94 MB
 * and climbs 60-110 MB within the first ~10,000 requests of a phase (V8 fills its 16 MB
 * semi-spaces and lets the old generation grow before it collects: with
 * FUZZ_NODE_FLAGS=--max-old-space-size=40 the same load plateaus ~40 MB lower, without
 * failing), then stays flat, and does not come down when the load stops. A leak grows with
 * traffic instead, so each phase of at least WARM_REQUESTS must end within RSS_WARM_GROWTH of
 * its RSS at mid-phase: 32 MB over 50,000 requests is ~670 bytes per request. Whatever the
 * length, the peak must stay within RSS_CEILING of the start.
 */
function rssFailures(phases: readonly (readonly [string, PhaseReport])[], e: Ending): string[] {
  const failures: string[] = [];
  for (const [name, r] of phases) {
    const growth = r.rssEnd - r.rssMid;
    if (r.requests >= WARM_REQUESTS && r.rssMid > 0 && growth > RSS_WARM_GROWTH) {
      failures.push(
        `RSS grew ${mb(growth)} in the second half of ${name} (bound ${mb(RSS_WARM_GROWTH)})`,
      );
    }
  }
  if (e.rss.peak - e.rss.start > RSS_CEILING) {
    failures.push(
      `RSS peaked ${mb(e.rss.peak - e.rss.start)} over the start (bound ${mb(RSS_CEILING)})`,
    );
  }
  return failures;
}

function verdict(requests: PhaseReport, responses: PhaseReport, e: Ending): string[] {
  const hangs = requests.hangs + responses.hangs;
  const malformed = requests.malformed + responses.malformed;
  return [
    ...(e.crashed === undefined ? [] : [`the proxy crashed (${e.crashed})`]),
    ...(hangs > 0 ? [`${hangs} hangs`] : []),
    ...(e.stalled > 0 ? [`${e.stalled} stalled upstream connections never closed`] : []),
    ...(malformed > 0 ? [`${malformed} responses the client could not frame`] : []),
    ...(e.crashed === undefined
      ? rssFailures(
          [
            ['phase 1', requests],
            ['phase 2', responses],
          ],
          e,
        )
      : []),
    ...(e.timedOut ? ['the time cap passed before the counts were reached'] : []),
  ];
}

function summaryLines(
  run: Run,
  requests: PhaseReport,
  responses: PhaseReport,
  upstreams: { recording: FuzzUpstream; hostile: FuzzUpstream },
  e: Ending,
  failures: readonly string[],
): string[] {
  const { o, proxy, rss } = run;
  const { recording, hostile } = upstreams;
  const phaseRss = (r: PhaseReport) => `mid ${mb(r.rssMid)} → end ${mb(r.rssEnd)}`;
  const lines = [
    `seed ${o.seed}, ${((Date.now() - run.began) / 1000).toFixed(0)} s, cli ${o.cli}`,
    ...phaseLines('phase 1, requests', requests),
    ...phaseLines('phase 2, responses', responses),
    `upstreams: recording saw ${recording.stats.requests} requests (${recording.stats.unframeable} unframeable), ` +
      `hostile saw ${hostile.stats.requests} (${hostile.stats.unframeable} unframeable); ` +
      `${recording.open() + hostile.open()} connections still open, ${e.stalled} of them stalled`,
    `proxy: ${e.crashed === undefined ? 'alive' : `CRASHED (${e.crashed})`}, ${proxy.errors.count} error log lines`,
    `crashes ${e.crashed === undefined ? 0 : 1}, hangs ${requests.hangs + responses.hangs}`,
    e.crashed === undefined
      ? `RSS: start ${mb(rss.start)}, peak ${mb(rss.peak)}, end ${mb(e.rssEnd)} ` +
        `(${mb(e.rssEnd - rss.start)} over the start); ` +
        `phase 1 ${phaseRss(requests)}, phase 2 ${phaseRss(responses)}`
      : `RSS: start ${mb(rss.start)}, peak ${mb(rss.peak)}`,
    failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`,
  ];
  if (e.crashed !== undefined) {
    const suspects = [...requests.crashCases, ...responses.crashCases];
    lines.push(`cases in flight or just done: ${suspects.join(' ')}`);
    lines.push('the proxy said last:', ...proxy.tail().slice(-20));
  }
  for (const line of proxy.errors.first) lines.push(`error log: ${line.slice(0, 400)}`);
  return lines;
}

async function fuzz(
  o: Options,
  proxy: ProxyUnderFuzz,
  recording: FuzzUpstream,
  hostile: FuzzUpstream,
): Promise<void> {
  const began = Date.now();
  const evidence = new Evidence(o.out);
  const rss = new RssSampler(proxy.pid);
  say(
    `proxy pid ${proxy.pid} on 127.0.0.1:${proxy.port}, seed ${o.seed}, ${o.requests} + ${o.responses} ` +
      `requests, concurrency ${o.concurrency}, bounds ${REQUEST_BOUND_MS} / ${RESPONSE_BOUND_MS} ms`,
  );
  const requests = newReport();
  const responses = newReport();
  const run: Run = { o, proxy, evidence, began, deadline: began + o.maxMs, rss };
  await runPhase(requestRunner(o, proxy.port, requests, evidence), o.requests, requests, run);
  if (proxy.exit() === undefined) {
    const runner = responseRunner(o, proxy.port, responses, evidence);
    await runPhase(runner, o.responses, responses, run);
  }
  const crashed = proxy.exit();
  if (crashed === undefined) await settle(rss, [recording, hostile]);
  rss.stop();
  const rssEnd = crashed === undefined ? rss.sample() : 0;
  // The settle only brings RSS down: the last phase ends where the run does.
  if (crashed === undefined && responses.requests > 0) responses.rssEnd = rssEnd;
  for (const [name, u] of Object.entries({ recording, hostile })) {
    for (const [i, sample] of u.stats.samples.entries()) {
      await evidence.save('unframeable', `${name}-${i}`, {
        'bytes.bin': sample.bytes,
        'reason.txt': `${sample.reason}\n`,
      });
    }
  }
  const ending: Ending = {
    crashed,
    stalled: recording.stalled() + hostile.stalled(),
    timedOut:
      crashed === undefined && (requests.requests < o.requests || responses.requests < o.responses),
    rss,
    rssEnd,
  };
  const failures = verdict(requests, responses, ending);
  if (recording.stats.unframeable + hostile.stats.unframeable > 0) {
    failures.push('the proxy forwarded requests an upstream could not frame');
  }
  const upstreams = { recording, hostile };
  process.stdout.write(
    `${summaryLines(run, requests, responses, upstreams, ending, failures).join('\n')}\n`,
  );
  await writeSummary(run, { requests, responses, upstreams, ending, failures });
  if (failures.length > 0) process.exitCode = 1;
}

async function writeSummary(
  run: Run,
  r: {
    requests: PhaseReport;
    responses: PhaseReport;
    upstreams: { recording: FuzzUpstream; hostile: FuzzUpstream };
    ending: Ending;
    failures: readonly string[];
  },
): Promise<void> {
  const { recording, hostile } = r.upstreams;
  await mkdir(run.o.out, { recursive: true });
  const summary = {
    seed: run.o.seed,
    cli: run.o.cli,
    seconds: (Date.now() - run.began) / 1000,
    requests: r.requests,
    responses: r.responses,
    upstreams: { recording: recording.stats, hostile: hostile.stats },
    crashed: r.ending.crashed ?? null,
    stalledUpstreamConnections: r.ending.stalled,
    errorLogLines: run.proxy.errors.count,
    rss: {
      start: run.rss.start,
      peak: run.rss.peak,
      end: r.ending.rssEnd,
      // [seconds since start, bytes], one a second.
      series: run.rss.series,
    },
    failures: r.failures,
  };
  const json = JSON.stringify(
    summary,
    (key, value: unknown) => (key === 'samples' ? undefined : value),
    2,
  );
  await writeFile(join(run.o.out, 'summary.json'), `${json}\n`);
  say(`summary and any failing cases in ${run.o.out}`);
}

await main();

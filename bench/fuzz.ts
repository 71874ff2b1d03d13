/**
 * `npm run fuzz -- [--requests N] [--responses M] [--seed S] [--cli PATH] [--quick]
 * [--concurrency C] [--keep-going] [--case requests:I | responses:I] [--out DIR]
 * [--max-minutes T]`: a black-box fuzzer of the proxy's HTTP/1.1 data path, for any build of
 * it (`--cli`, by default this tree's dist/cli.js: `npm run build` first).
 *
 *  1. requests: N (default 100,000) generated or mutated requests (fuzz-requests.ts), written
 *     in random splits on C (default 32) connections at once, to a recording upstream;
 *  2. responses: M (default 100,000) valid requests to a hostile upstream whose replies are
 *     generated or mutated (fuzz-responses.ts), also in random splits.
 *
 * Every exchange must end within a bound derived from the timeouts (fuzz-proxy.ts), or it is a
 * hang; the proxy must stay up (a crash is its process exiting); its RSS, sampled every second,
 * must stop growing once warm (fuzz-report.ts). The fuzzer's own framing also checks what the
 * proxy writes: responses its client cannot frame, requests its upstreams cannot frame, and
 * upstream connections stalled on purpose that the proxy never closes.
 *
 * A crash stops the run, unless `--keep-going`: then the proxy is started again and the phase
 * goes on. Either way the cases in flight and the last ones done are saved, and then replayed
 * against fresh proxies, bisected, to name the one that kills it (triage()). Failing cases are saved
 * under `--out` (default bench/results/fuzz-SEED) and replay alone with `--seed S --case
 * phase:I`. Exits 1 on any failure, or when the time cap (`--max-minutes`, 90 by default) stops
 * the run short. `--quick`: 2,000 + 2,000, for CI. FUZZ_NODE_FLAGS adds flags to the proxy's
 * node. Loopback only; it stops the processes it started, by PID.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { requestExchange, responseExchange } from './fuzz-client.ts';
import {
  fuzzConfig,
  installTraps,
  REQUEST_BOUND_MS,
  RESPONSE_BOUND_MS,
  RssSampler,
  startProxy,
} from './fuzz-proxy.ts';
import type { ProxyUnderFuzz } from './fuzz-proxy.ts';
import {
  bump,
  caseName,
  countStatus,
  crashLines,
  describe,
  Evidence,
  mb,
  MB,
  newReport,
  phaseLines,
  RSS_CEILING,
  rssFailures,
} from './fuzz-report.ts';
import type { AnyCase, CrashRecord, PhaseReport } from './fuzz-report.ts';
import { hostileCase, requestCase } from './fuzz-requests.ts';
import { hostileReply } from './fuzz-responses.ts';
import { startHostileUpstream, startRecordingUpstream } from './fuzz-upstreams.ts';
import type { FuzzUpstream } from './fuzz-upstreams.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Cases between two progress lines (10 s apart at least). */
const BATCH = 1_000;
/**
 * Completed cases kept as crash suspects, besides the ones in flight: the culprit may have
 * ended (a client that resets, say) just before the proxy died, and every exchange the death
 * cut short ends between the death and its exit event, after the culprit.
 */
const RECENT = 128;
/** Crashes whose suspects are replayed one by one at the end (each replay starts a proxy). */
const TRIAGED_CRASHES = 3;

const say = (text: string) => process.stderr.write(`[fuzz] ${text}\n`);

type Phase = 'requests' | 'responses';

interface Options {
  readonly requests: number;
  readonly responses: number;
  readonly seed: number;
  readonly cli: string;
  readonly concurrency: number;
  readonly keepGoing: boolean;
  readonly out: string;
  readonly maxMs: number;
  readonly only: { phase: Phase; index: number } | undefined;
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
      'keep-going': { type: 'boolean', default: false },
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
  return {
    requests: int(values.requests, quick ? 2_000 : 100_000, 'requests'),
    responses: int(values.responses, quick ? 2_000 : 100_000, 'responses'),
    seed,
    cli: values.cli ?? join(ROOT, 'dist', 'cli.js'),
    concurrency: Math.max(1, int(values.concurrency, 32, 'concurrency')),
    keepGoing: values['keep-going'],
    out: values.out ?? join(ROOT, 'bench', 'results', `fuzz-${seed}`),
    maxMs: int(values['max-minutes'], quick ? 10 : 90, 'max-minutes') * 60_000,
    only: values.case === undefined ? undefined : parseCase(values.case),
  };
}

function parseCase(text: string): Options['only'] {
  const match = /^(requests|responses):(\d+)$/.exec(text);
  if (match === null) throw new Error('--case takes requests:INDEX or responses:INDEX');
  return { phase: match[1] as Phase, index: Number(match[2]) };
}

const makeCase = (seed: number, phase: Phase, index: number): AnyCase =>
  phase === 'requests' ? requestCase(seed, index) : hostileCase(seed, index);

/** What the whole run shares; `proxy` is replaced when `--keep-going` restarts it. */
interface Run {
  readonly o: Options;
  proxy: ProxyUnderFuzz;
  readonly configPath: string;
  readonly evidence: Evidence;
  readonly rss: RssSampler;
  readonly crashes: CrashRecord[];
  /** Epoch ms: when the load began, and the time cap. */
  readonly began: number;
  readonly deadline: number;
}

/**
 * Runs one case against the proxy on `port`, and records its outcome in `report`. False when
 * the connection was refused: the case never reached the proxy.
 */
async function runCase(run: Run, c: AnyCase, port: number, report: PhaseReport): Promise<boolean> {
  if (c.phase === 'requests') {
    const out = await requestExchange(port, c, REQUEST_BOUND_MS);
    if (out.connectError !== undefined) report.connectErrors++;
    for (const status of out.statuses) countStatus(report, status);
    if (out.aborted) bump(report.classes, 'aborted');
    else if (out.hang) bump(report.classes, 'hang');
    else if (out.statuses.length === 0 && out.connectError === undefined) {
      bump(report.classes, 'closed');
    }
    if (!out.hang) return out.connectError === undefined;
    report.hangs++;
    say(`HANG ${caseName(c)} (${c.ending}, ${c.labels.join(' ')})`);
    const extra = { received: out.total, closed: out.closed, boundMs: REQUEST_BOUND_MS };
    await run.evidence.saveCase('hang', c, extra, out.bytes);
    return true;
  }
  const out = await responseExchange(port, c, RESPONSE_BOUND_MS);
  if (out.connectError !== undefined) report.connectErrors++;
  for (const answer of out.answers) {
    if (answer.kind === 'status') countStatus(report, answer.status);
    else bump(report.classes, answer.kind);
  }
  const kind = out.hang ? 'hang' : out.malformed !== undefined ? 'malformed' : undefined;
  if (kind === undefined) return out.connectError === undefined;
  if (out.hang) report.hangs++;
  else report.malformed++;
  bump(report.classes, kind);
  say(`${kind.toUpperCase()} ${caseName(c)} ${out.malformed ?? ''} (${c.labels.join(', ')})`);
  const extra = {
    malformed: out.malformed,
    answers: out.answers,
    replies: c.requests.map((r) => hostileReply(r.method, r.target).labels),
    received: out.total,
    closed: out.closed,
    boundMs: RESPONSE_BOUND_MS,
  };
  await run.evidence.saveCase(kind, c, extra, out.bytes);
  return true;
}

/**
 * Runs a phase's cases on `concurrency` connections until `total` requests were sent or the
 * deadline passed. The proxy is checked before every case (its exit is an event): a crash
 * stops the workers at once; its suspects are saved; with `--keep-going` the proxy starts
 * again and the phase goes on from the next case.
 */
async function runPhase(run: Run, phase: Phase, total: number, report: PhaseReport): Promise<void> {
  if (total === 0) return;
  const started = Date.now();
  let next = 0;
  let lastProgress = Date.now();
  for (;;) {
    const { proxy, rss, o } = run;
    const from = report.requests;
    const inFlight = new Map<number, AnyCase>();
    const recent: AnyCase[] = [];
    // [requests sent, RSS], once a second: the segment's midpoint is known only at its end.
    const points: [number, number][] = [];
    const timer = setInterval(() => points.push([report.requests, rss.last]), 1_000);
    let suspects: AnyCase[] | undefined;
    // In flight when the proxy died (oldest first), then the last ones done, newest first: a
    // case that kills the proxy as it ends (a client reset, say) is among the last done.
    proxy.child.once('exit', () => (suspects = [...inFlight.values(), ...recent.toReversed()]));
    const more = () =>
      report.requests < total && proxy.exit() === undefined && Date.now() < run.deadline;
    const worker = async () => {
      while (more()) {
        const c = makeCase(o.seed, phase, next++);
        report.cases++;
        report.requests += c.phase === 'requests' ? c.messages : c.requests.length;
        report.bytes += c.bytes.length;
        inFlight.set(c.index, c);
        const reached = await runCase(run, c, proxy.port, report);
        inFlight.delete(c.index);
        if (reached) {
          recent.push(c);
          if (recent.length > RECENT) recent.shift();
        } else {
          // Refused: the proxy is probably dying. Its exit, once seen, stops every worker;
          // until then no more cases that would only be refused too.
          await Promise.race([proxy.exited, sleep(2_000)]);
        }
        if (report.cases % BATCH === 0 && Date.now() - lastProgress > 10_000) {
          lastProgress = Date.now();
          say(
            `${phase}: ${report.requests}/${total} requests in ${report.cases} cases, ` +
              `${Math.round((Date.now() - started) / 1000)} s, hangs ${report.hangs}, ` +
              `RSS ${mb(rss.last)} (peak ${mb(rss.peak)})`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    clearInterval(timer);
    rss.sample();
    // rss.last: the last sample of this process, even if it has just died.
    const half = (from + report.requests) / 2;
    const rssMid = points.find(([n]) => n >= half)?.[1] ?? 0;
    report.segments.push({ from, to: report.requests, rssMid, rssEnd: rss.last });
    const exit = proxy.exit();
    if (exit === undefined) break;
    await recordCrash(run, phase, report, exit, suspects ?? []);
    if (!o.keepGoing || report.requests >= total || Date.now() >= run.deadline) break;
    await restart(run);
  }
  report.ms = Date.now() - started;
}

async function recordCrash(
  run: Run,
  phase: Phase,
  report: PhaseReport,
  exit: string,
  suspects: AnyCase[],
): Promise<void> {
  say(`CRASH: the proxy died (${exit}) in ${phase} at request ${report.requests}`);
  const tail = run.proxy.tail();
  run.crashes.push({ phase, atRequest: report.requests, exit, suspects, tail, reproduced: [] });
  const n = run.crashes.length;
  for (const c of suspects) await run.evidence.saveCase('crash', c, { crash: n });
  await writeFile(join(run.evidence.dir, 'crash', `crash-${n}.log`), `${tail.join('\n')}\n`);
}

async function restart(run: Run): Promise<void> {
  run.proxy = await startProxy(run.o.cli, run.configPath);
  run.rss.follow(run.proxy.pid);
  say(`proxy restarted: pid ${run.proxy.pid} on 127.0.0.1:${run.proxy.port}`);
}

/** Whether these cases, run together (at the run's concurrency), kill a fresh proxy. */
async function kills(run: Run, cases: readonly AnyCase[]): Promise<boolean> {
  const proxy = await startProxy(run.o.cli, run.configPath);
  try {
    const queue = [...cases];
    const worker = async () => {
      for (
        let c = queue.shift();
        c !== undefined && proxy.exit() === undefined;
        c = queue.shift()
      ) {
        if (c.phase === 'requests') await requestExchange(proxy.port, c, REQUEST_BOUND_MS);
        else await responseExchange(proxy.port, c, RESPONSE_BOUND_MS);
      }
    };
    await Promise.all(Array.from({ length: Math.min(run.o.concurrency, cases.length) }, worker));
    await Promise.race([proxy.exited, sleep(300)]);
    return proxy.exit() !== undefined;
  } finally {
    await proxy.stop();
  }
}

/**
 * Names the case that kills the proxy: the suspects together against a fresh proxy, then
 * halves of them, each on a fresh proxy, while one half alone still does it (a bisection:
 * ~2 log2(n) proxies). Ends with one case, or with the smallest group found when the crash
 * needs cases of both halves, or with none when the suspects together no longer do it (a
 * race the replay did not hit).
 */
async function triage(run: Run): Promise<void> {
  for (const [i, crash] of run.crashes.slice(0, TRIAGED_CRASHES).entries()) {
    say(`triage of crash ${i + 1}: ${crash.suspects.length} suspects`);
    let group = [...crash.suspects];
    if (!(await kills(run, group))) continue;
    while (group.length > 1) {
      const half = Math.ceil(group.length / 2);
      const [first, second] = [group.slice(0, half), group.slice(half)];
      if (await kills(run, first)) group = first;
      else if (await kills(run, second)) group = second;
      else break;
    }
    crash.reproduced = group.map(caseName);
    say(`crash ${i + 1} reproduced by: ${crash.reproduced.join(' ')}`);
  }
}

/** Runs one case against a fresh proxy and prints everything about it (`--case`). */
async function replay(run: Run): Promise<void> {
  const only = run.o.only as NonNullable<Options['only']>;
  const c = makeCase(run.o.seed, only.phase, only.index);
  const out =
    c.phase === 'requests'
      ? await requestExchange(run.proxy.port, c, REQUEST_BOUND_MS)
      : await responseExchange(run.proxy.port, c, RESPONSE_BOUND_MS);
  await sleep(300);
  const show = (b: Buffer) => JSON.stringify(b.subarray(0, 4_096).toString('latin1'));
  const lines = [describe(c), `sent: ${show(c.bytes)}`];
  if (c.phase === 'responses') {
    for (const r of c.requests) {
      lines.push(
        `reply to ${r.method} ${r.target}: ${show(hostileReply(r.method, r.target).bytes)}`,
      );
    }
  }
  const { bytes, ...rest } = out;
  lines.push(`outcome: ${JSON.stringify(rest)}`, `received: ${show(bytes)}`);
  const exit = run.proxy.exit();
  lines.push(
    exit === undefined ? 'proxy: alive' : `proxy: DIED (${exit})`,
    ...(exit === undefined ? [] : run.proxy.tail()),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  if (exit !== undefined) process.exitCode = 1;
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

async function fuzz(run: Run, recording: FuzzUpstream, hostile: FuzzUpstream): Promise<void> {
  const { o, rss } = run;
  say(
    `proxy pid ${run.proxy.pid} on 127.0.0.1:${run.proxy.port}, seed ${o.seed}, ` +
      `${o.requests} + ${o.responses} requests, concurrency ${o.concurrency}, ` +
      `bounds ${REQUEST_BOUND_MS} / ${RESPONSE_BOUND_MS} ms`,
  );
  const phases = { requests: newReport(), responses: newReport() };
  await runPhase(run, 'requests', o.requests, phases.requests);
  if (run.proxy.exit() === undefined) {
    await runPhase(run, 'responses', o.responses, phases.responses);
  }
  const alive = run.proxy.exit() === undefined;
  if (alive) await settle(rss, [recording, hostile]);
  rss.stop();
  const rssEnd = alive ? rss.sample() : 0;
  // The settle only brings RSS down: the last stretch ends where the run does.
  const last = phases.responses.segments.at(-1) ?? phases.requests.segments.at(-1);
  if (alive && last !== undefined) last.rssEnd = rssEnd;
  for (const [name, u] of Object.entries({ recording, hostile })) {
    for (const [i, sample] of u.stats.samples.entries()) {
      await run.evidence.save('unframeable', `${name}-${i}`, {
        'bytes.bin': sample.bytes,
        'reason.txt': `${sample.reason}\n`,
      });
    }
  }
  if (run.crashes.length > 0) await triage(run);
  const stalled = recording.stalled() + hostile.stalled();
  const hangs = phases.requests.hangs + phases.responses.hangs;
  const malformed = phases.requests.malformed + phases.responses.malformed;
  const unframeable = recording.stats.unframeable + hostile.stats.unframeable;
  const short = phases.requests.requests < o.requests || phases.responses.requests < o.responses;
  const failures = [
    ...(run.crashes.length > 0 ? [`the proxy crashed ${run.crashes.length} times`] : []),
    ...(hangs > 0 ? [`${hangs} hangs`] : []),
    ...(stalled > 0 ? [`${stalled} stalled upstream connections never closed`] : []),
    ...(malformed > 0 ? [`${malformed} responses the client could not frame`] : []),
    ...(unframeable > 0 ? [`${unframeable} forwarded requests an upstream could not frame`] : []),
    ...rssFailures(phases),
    ...(rss.peak - rss.start > RSS_CEILING ? [`RSS peaked ${mb(rss.peak)}`] : []),
    ...(alive && short ? ['the time cap passed before the counts were reached'] : []),
  ];
  const lines = [
    `seed ${o.seed}, ${((Date.now() - run.began) / 1000).toFixed(0)} s, cli ${o.cli}`,
    ...phaseLines('phase 1, requests', phases.requests),
    ...phaseLines('phase 2, responses', phases.responses),
    `upstreams: recording saw ${recording.stats.requests} requests (${recording.stats.unframeable} unframeable), ` +
      `hostile saw ${hostile.stats.requests} (${hostile.stats.unframeable} unframeable); ` +
      `${recording.open() + hostile.open()} connections still open, ${stalled} of them stalled`,
    `proxy: ${alive ? 'alive' : 'DEAD'} at the end, ${run.proxy.errors.count} error log lines`,
    `crashes ${run.crashes.length}, hangs ${hangs}`,
    `RSS: start ${mb(rss.start)}, peak ${mb(rss.peak)}, end ${alive ? mb(rssEnd) : '-'}`,
    ...crashLines(run.crashes),
    ...run.proxy.errors.first.map((line) => `error log: ${line.slice(0, 400)}`),
    failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await writeSummary(run, { phases, recording, hostile, rssEnd, failures });
  if (failures.length > 0) process.exitCode = 1;
}

async function writeSummary(
  run: Run,
  r: {
    phases: Record<Phase, PhaseReport>;
    recording: FuzzUpstream;
    hostile: FuzzUpstream;
    rssEnd: number;
    failures: readonly string[];
  },
): Promise<void> {
  await mkdir(run.o.out, { recursive: true });
  const summary = {
    seed: run.o.seed,
    cli: run.o.cli,
    seconds: (Date.now() - run.began) / 1000,
    ...r.phases,
    upstreams: { recording: r.recording.stats, hostile: r.hostile.stats },
    crashes: run.crashes.map((c) => ({ ...c, suspects: c.suspects.map(caseName) })),
    errorLogLines: run.proxy.errors.count,
    // series: [seconds since the start, bytes], one a second.
    rss: { start: run.rss.start, peak: run.rss.peak, end: r.rssEnd, series: run.rss.series },
    failures: r.failures,
  };
  // The samples of unframeable requests are saved as files of their own.
  const json = JSON.stringify(
    summary,
    (key, value: unknown) => (key === 'samples' ? undefined : value),
    2,
  );
  await writeFile(join(run.o.out, 'summary.json'), `${json}\n`);
  say(`summary and any failing cases in ${run.o.out}`);
}

async function main(): Promise<void> {
  const o = options();
  if (!existsSync(o.cli)) {
    throw new Error(`${o.cli} does not exist: run \`npm run build\` first, or pass --cli`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'rp-fuzz-'));
  installTraps(() => rmSync(dir, { recursive: true, force: true }));
  const recording = await startRecordingUpstream();
  const hostile = await startHostileUpstream();
  const configPath = join(dir, 'fuzz.yaml');
  await writeFile(configPath, fuzzConfig(recording.url, hostile.url));
  const proxy = await startProxy(o.cli, configPath);
  const began = Date.now();
  const run: Run = {
    o,
    proxy,
    configPath,
    evidence: new Evidence(o.out),
    rss: new RssSampler(proxy.pid),
    crashes: [],
    began,
    deadline: began + o.maxMs,
  };
  try {
    if (o.only !== undefined) await replay(run);
    else await fuzz(run, recording, hostile);
  } finally {
    run.rss.stop();
    await run.proxy.stop();
    await recording.close();
    await hostile.close();
  }
}

await main();

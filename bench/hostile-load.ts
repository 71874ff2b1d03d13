/**
 * `node bench/hostile-load.ts [--quick] [--src] [--only slowloris,idle,slowbody] [--count N]
 * [--cap SECONDS]` (or
 * `npm run bench -- --hostile [--quick]`): this proxy and nginx side by side under three
 * hostile loads, each system fresh for each scenario, while a normal client keeps requesting:
 *
 *  1. slowloris: connections that send a partial request header, then one byte every 3 s;
 *  2. idle keep-alive: connections that make one GET, read the answer and sit idle;
 *  3. slow body: POST headers with Content-Length 1,000,000, then one byte every 5 s.
 *
 * It records when the server closes each attacking connection, the normal client's successes,
 * failures and latency, RSS (VmRSS) before, at peak and after, and the connections each system
 * holds to its upstream. Everything runs on 127.0.0.1; every child is stopped by PID.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  childPids,
  installTraps,
  raiseNofile,
  rssOf,
  spawnPinned,
  stopAll,
  stopChild,
} from './children.ts';
import { freePort } from './free-port.ts';
import type { AttackReport } from './hostile-attack.ts';
import type { AttackPlan, HeldConnection } from './hostile-clients.ts';
import type { ProbeOptions, ProbeSample } from './hostile-probe.ts';
import { referenceConfig, startNginx, upstreamConfig, withRoom } from './nginx.ts';
import { BENCH_HOST, buildProxy, proxyConfig, SOURCE_CLI, startProxyUnderTest } from './proxy.ts';
import { median } from './stats.ts';
import { which } from './tools.ts';

const LOAD_CPU = 0;
const PROXY_CPU = 1;
const MB = 2 ** 20;
const NOFILE = 65_536;

type ScenarioId = 'slowloris' | 'idle' | 'slowbody';
type SystemId = 'proxy' | 'nginx';

interface ScenarioSpec {
  readonly id: ScenarioId;
  readonly title: string;
  readonly plan: Omit<AttackPlan, 'port'>;
  /** How long the attack may last once established, if the servers do not end it first. */
  readonly capMs: number;
}

const SLOWLORIS = `GET /2k HTTP/1.1\r\nHost: ${BENCH_HOST}\r\nUser-Agent: slowloris\r\nX-Slow: `;
const IDLE = `GET /2k HTTP/1.1\r\nHost: ${BENCH_HOST}\r\n\r\n`;
const SLOW_BODY =
  `POST /sink HTTP/1.1\r\nHost: ${BENCH_HOST}\r\n` +
  'Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n';

function scenarios(quick: boolean): ScenarioSpec[] {
  const step = { stepTimeoutMs: 10_000 };
  return [
    {
      id: 'slowloris',
      title: 'slowloris (partial header, 1 byte / 3 s)',
      plan: {
        ...step,
        count: quick ? 200 : 2_000,
        batch: 200,
        opening: SLOWLORIS,
        awaitResponse: false,
        trickle: { byte: 'a', everyMs: 3_000 },
      },
      capMs: quick ? 100_000 : 130_000,
    },
    {
      id: 'idle',
      title: 'idle keep-alive (one GET, then idle)',
      plan: {
        ...step,
        count: quick ? 1_000 : 10_000,
        batch: 250,
        opening: IDLE,
        awaitResponse: true,
      },
      capMs: quick ? 90_000 : 110_000,
    },
    {
      id: 'slowbody',
      title: 'slow body (POST, Content-Length 1e6, 1 byte / 5 s)',
      plan: {
        ...step,
        count: quick ? 20 : 200,
        batch: 50,
        opening: SLOW_BODY,
        awaitResponse: false,
        trickle: { byte: 'x', everyMs: 5_000 },
      },
      // Long enough for a 300 s whole-request deadline; nginx has none (client_body_timeout is
      // between two reads), so this scenario always lasts the whole cap.
      capMs: quick ? 75_000 : 310_000,
    },
  ];
}

const say = (text: string) => process.stderr.write(`[hostile] ${text}\n`);

/** A started system under test, with its own upstream. */
interface Target {
  readonly id: SystemId;
  readonly port: number;
  readonly upstreamPort: number;
  rss(): number;
  stop(): Promise<void>;
}

interface Env {
  readonly dir: string;
  readonly nginx: string;
  readonly cli: string;
  /** One upstream per system, so that `ss` can tell whose upstream connections are whose. */
  readonly upstreams: Record<SystemId, number>;
}

/** The bench's nginx configs, given room for the 10,000-connection case. */
const roomy = (config: string) => withRoom(config, 30_000, NOFILE);

async function startTarget(env: Env, id: SystemId, name: string): Promise<Target> {
  const upstreamPort = env.upstreams[id];
  if (id === 'proxy') {
    const configPath = join(env.dir, `${name}.yaml`);
    await writeFile(configPath, proxyConfig(`http://127.0.0.1:${upstreamPort}`, 0));
    const proxy = await startProxyUnderTest(configPath, PROXY_CPU, env.cli);
    return {
      id,
      port: proxy.port,
      upstreamPort,
      rss: () => rssOf(proxy.child.pid),
      stop: () => stopChild(proxy.child),
    };
  }
  const port = await freePort();
  const dir = join(env.dir, name);
  const child = await startNginx(
    env.nginx,
    dir,
    roomy(referenceConfig(dir, port, upstreamPort)),
    port,
    PROXY_CPU,
  );
  return {
    id,
    port,
    upstreamPort,
    rss: () => [child.pid, ...childPids(child.pid)].reduce<number>((n, p) => n + rssOf(p), 0),
    stop: () => stopChild(child),
  };
}

function startProbe(port: number): { stop(): Promise<ProbeSample[]> } {
  const options: ProbeOptions = {
    port,
    host: BENCH_HOST,
    path: '/2k',
    pauseMs: 20,
    burstEveryMs: 1_000,
    burstSize: 5,
    timeoutMs: 5_000,
    maxMs: 300_000,
    maxRequests: 50_000,
  };
  const worker = new Worker(new URL('./hostile-probe.ts', import.meta.url), {
    workerData: options,
  });
  const samples = new Promise<ProbeSample[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const timeout = sleep(20_000).then(() => [] as ProbeSample[]);
      const result = await Promise.race([samples, timeout]);
      await worker.terminate();
      return result;
    },
  };
}

type Established = Extract<AttackReport, { type: 'established' }>;
type Final = Extract<AttackReport, { type: 'final' }>;

/** One system's attack, run by `hostile-attack.ts` in a child process pinned to the load CPU. */
class AttackProcess {
  readonly established: Promise<Established>;
  readonly #final: Promise<Final>;
  readonly #child: ChildProcess;
  open = Number.POSITIVE_INFINITY;
  firstCloseAt: number | null = null;

  constructor(plan: AttackPlan, maxMs: number) {
    let onEstablished: (r: Established) => void = () => undefined;
    let onFinal: (r: Final) => void = () => undefined;
    this.established = new Promise((resolve) => (onEstablished = resolve));
    this.#final = new Promise((resolve) => (onFinal = resolve));
    let pending = '';
    const file = fileURLToPath(new URL('./hostile-attack.ts', import.meta.url));
    this.#child = spawnPinned(
      LOAD_CPU,
      process.execPath,
      [file, JSON.stringify(plan), String(maxMs)],
      (chunk) => {
        pending += chunk;
        let newline;
        while ((newline = pending.indexOf('\n')) !== -1) {
          const report = JSON.parse(pending.slice(0, newline)) as AttackReport;
          pending = pending.slice(newline + 1);
          if (report.type === 'established') onEstablished(report);
          else if (report.type === 'final') onFinal(report);
          else {
            this.open = report.open;
            this.firstCloseAt = report.firstCloseAt;
          }
        }
      },
    );
    const exited = once(this.#child, 'close').then(([code]) => {
      throw new Error(`attack process exited with ${code} (BENCH_DEBUG=1 shows its stderr)`);
    });
    // Whichever comes first; the losing rejection is handled here, not left floating.
    exited.catch(() => undefined);
    this.established = Promise.race([this.established, exited]);
    this.#final = Promise.race([this.#final, exited]);
  }

  /** Ends the attack: the process reports every connection and exits. */
  async stop(): Promise<Final> {
    this.#child.kill('SIGUSR2');
    try {
      return await this.#final;
    } finally {
      await stopChild(this.#child);
    }
  }
}

const execFileAsync = promisify(execFile);

/** Established connections whose peer port is one of `ports` (what `ss` sees), by port. */
async function upstreamConnections(ports: readonly number[]): Promise<Map<number, number>> {
  const filter = ports.map((p) => `dport = :${p}`).join(' or ');
  const counts = new Map(ports.map((p) => [p, 0]));
  try {
    const { stdout } = await execFileAsync(
      'ss',
      ['-Htn', 'state', 'established', `( ${filter} )`],
      { maxBuffer: 64 * MB },
    );
    for (const line of stdout.split('\n')) {
      const peer = line.trim().split(/\s+/)[3];
      const port = Number(peer?.slice(peer.lastIndexOf(':') + 1));
      if (counts.has(port)) counts.set(port, (counts.get(port) as number) + 1);
    }
  } catch {
    // ss missing or failed: the counts stay 0 (the report says where they come from)
  }
  return counts;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

interface ProbeStats {
  readonly requests: number;
  readonly failed: number;
  /** Failures by outcome ('timeout', 'ECONNRESET', '503'). */
  readonly failures: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

function probeStats(samples: readonly ProbeSample[]): ProbeStats {
  const ok = samples
    .filter((s) => s.ok)
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  const failures: Record<string, number> = {};
  for (const s of samples) if (!s.ok) failures[s.outcome] = (failures[s.outcome] ?? 0) + 1;
  return {
    requests: samples.length,
    failed: samples.length - ok.length,
    failures,
    p50Ms: percentile(ok, 50),
    p99Ms: percentile(ok, 99),
    maxMs: Math.max(...samples.map((s) => s.ms)),
  };
}

interface CloseStats {
  readonly held: number;
  readonly failedOpenings: number;
  readonly closed: number;
  readonly stillOpen: number;
  /** Seconds from the timeout clock's start (open, or end of the response) to FIN or RST. */
  readonly minS: number;
  readonly medianS: number;
  readonly maxS: number;
  /** "first line the server sent + how it closed" -> count. */
  readonly how: Record<string, number>;
}

function closeStats(attack: Final): CloseStats {
  const held = attack.conns.filter((c) => c.failed === undefined);
  const closed = held.filter(
    (c): c is HeldConnection & { closedAt: number } => c.closedAt !== undefined,
  );
  const secs = closed.map((c) => (c.closedAt - c.clockFrom) / 1000);
  const how: Record<string, number> = {};
  for (const c of closed) {
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(c.firstLine ?? '')?.[1];
    const key = `${status ?? (c.firstLine === undefined ? 'nothing' : 'other')} + ${c.closedBy}`;
    how[key] = (how[key] ?? 0) + 1;
  }
  return {
    held: held.length,
    failedOpenings: attack.conns.length - held.length + attack.connectFailures,
    closed: closed.length,
    stillOpen: held.length - closed.length,
    minS: secs.length === 0 ? Number.NaN : Math.min(...secs),
    medianS: median(secs),
    maxS: secs.length === 0 ? Number.NaN : Math.max(...secs),
    how,
  };
}

export interface SystemResult {
  readonly scenario: ScenarioId;
  readonly system: SystemId;
  readonly attackConnections: number;
  readonly openSeconds: number;
  /** Seconds the attack lasted before its first connection was closed (the probes' window). */
  readonly windowSeconds: number;
  readonly baseline: ProbeStats;
  readonly during: ProbeStats;
  readonly rssBeforeMb: number;
  readonly rssPeakMb: number;
  readonly rssAfterMb: number;
  readonly close: CloseStats;
  /** Established connections to the upstream just before the attack (the probes' pool). */
  readonly upstreamBefore: number;
  readonly upstreamPeak: number;
  readonly upstreamAtEnd: number;
  /** Seconds after the attack was established when the system let go of its upstream connections. */
  readonly upstreamReleasedS: number | null;
  /** [seconds since established, upstream connections], every second. */
  readonly upstreamSeries: readonly (readonly [number, number])[];
  /** Seconds after the attack was established when it ended (all closed, or the cap). */
  readonly endS: number;
}

/**
 * When a system let go of what the attack made it hold upstream: the first sample, after the
 * peak and before the attack ended, with at most a tenth of the peak's extra connections left
 * over the count before the attack (the normal client's keep-alive pool stays). Null when the
 * attack held fewer than 10 connections upstream, or the system held them to the end.
 */
export function upstreamReleasedAt(
  series: readonly (readonly [number, number])[],
  before: number,
  endS: number,
): number | null {
  const peak = Math.max(0, ...series.map(([, n]) => n));
  if (peak - before < 10) return null;
  const peakAt = series.findIndex(([, n]) => n === peak);
  const released = series
    .slice(peakAt)
    .find(([sec, n]) => sec > 0 && sec <= endS && n - before <= (peak - before) / 10);
  return released === undefined ? null : released[0];
}

async function runScenario(env: Env, spec: ScenarioSpec): Promise<SystemResult[]> {
  const ids: SystemId[] = ['proxy', 'nginx'];
  const targets = await Promise.all(ids.map((id) => startTarget(env, id, `${id}-${spec.id}`)));
  // Whatever fails below, these stop in the finally block.
  let rssSampler: NodeJS.Timeout | undefined;
  let sampling = true;
  const probes: { stop(): Promise<ProbeSample[]> }[] = [];
  const attacks: AttackProcess[] = [];
  try {
    say(`${spec.id}: baseline probes (3 s)`);
    const baselineProbes = targets.map((t) => startProbe(t.port));
    await sleep(3_000);
    const baseline = await Promise.all(baselineProbes.map((p) => p.stop()));
    const rssBefore = targets.map((t) => t.rss());
    const rssPeak = [...rssBefore];
    rssSampler = setInterval(() => {
      targets.forEach((t, i) => (rssPeak[i] = Math.max(rssPeak[i] as number, t.rss())));
    }, 500);
    // [epoch ms, established connections to this system's upstream], every second.
    const series: [number, number][][] = targets.map(() => []);
    const established: number[] = targets.map(() => Number.NaN);
    const ssLoop = (async () => {
      const started = Date.now();
      while (sampling && Date.now() - started < spec.capMs + 120_000) {
        const counts = await upstreamConnections(targets.map((t) => t.upstreamPort));
        const now = Date.now();
        targets.forEach((t, i) => series[i]?.push([now, counts.get(t.upstreamPort) ?? 0]));
        await sleep(1_000);
      }
    })();
    probes.push(...targets.map((t) => startProbe(t.port)));
    const upstreamBefore = await upstreamConnections(targets.map((t) => t.upstreamPort));
    const openStarted = Date.now();
    say(`${spec.id}: opening ${spec.plan.count} connections to each system`);
    const mine = targets.map(
      (t) => new AttackProcess({ ...spec.plan, port: t.port }, spec.capMs + 120_000),
    );
    attacks.push(...mine);
    const reports = await Promise.all(mine.map((a) => a.established));
    reports.forEach((r, i) => {
      established[i] = r.at;
      say(
        `${spec.id} ${targets[i]?.id}: ${r.held} held after ${(r.at - openStarted) / 1000} s ` +
          `(${r.connectFailures} connect failures, ${r.failed} failed openings)`,
      );
    });
    const attackStart = Math.max(...established);
    let lastReport = Date.now();
    while (Date.now() - attackStart < spec.capMs && mine.some((a) => a.open > 0)) {
      await sleep(250);
      if (Date.now() - lastReport >= 15_000) {
        lastReport = Date.now();
        say(
          `${spec.id} +${Math.round((lastReport - attackStart) / 1000)} s: still open ` +
            targets.map((t, i) => `${t.id} ${mine[i]?.open}`).join(', ') +
            '; upstream conns ' +
            series.map((s, i) => `${targets[i]?.id} ${s.at(-1)?.[1] ?? 0}`).join(', '),
        );
      }
    }
    const end = Date.now();
    const during = await Promise.all(probes.splice(0).map((p) => p.stop()));
    const upstreamAtEnd = series.map((s) => s.at(-1)?.[1] ?? 0);
    const finals = await Promise.all(attacks.splice(0).map((a) => a.stop()));
    const closes = finals.map((f) => closeStats(f));
    await sleep(2_000);
    const rssAfter = targets.map((t) => t.rss());
    clearInterval(rssSampler);
    sampling = false;
    await ssLoop;
    return targets.map((t, i) => {
      const windowEnd = mine[i]?.firstCloseAt ?? end;
      const before = upstreamBefore.get(t.upstreamPort) ?? 0;
      const from = established[i] as number;
      const s = (series[i] ?? []).map(([at, n]) => [(at - from) / 1000, n] as const);
      const endS = (end - from) / 1000;
      return {
        scenario: spec.id,
        system: t.id,
        attackConnections: spec.plan.count,
        openSeconds: (from - openStarted) / 1000,
        windowSeconds: (windowEnd - from) / 1000,
        baseline: probeStats(baseline[i] ?? []),
        during: probeStats((during[i] ?? []).filter((p) => p.t >= from && p.t <= windowEnd)),
        rssBeforeMb: (rssBefore[i] as number) / MB,
        rssPeakMb: (rssPeak[i] as number) / MB,
        rssAfterMb: (rssAfter[i] as number) / MB,
        close: closes[i] as CloseStats,
        upstreamBefore: before,
        upstreamPeak: Math.max(0, ...s.map(([, n]) => n)),
        upstreamAtEnd: upstreamAtEnd[i] ?? 0,
        upstreamReleasedS: upstreamReleasedAt(s, before, endS),
        upstreamSeries: s,
        endS,
      };
    });
  } finally {
    clearInterval(rssSampler);
    sampling = false;
    await Promise.allSettled([...probes, ...attacks].map((x) => x.stop()));
    await Promise.all(targets.map((t) => t.stop()));
  }
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(0)) : '-');

/** The report: a header line, the table, and the slow body's upstream connections over time. */
export function renderMarkdown(headline: string, results: readonly SystemResult[]): string {
  return `${headline}\n\n${table(results)}\n${timelines(results).replace(/^(?=.)/, '\n')}\n`;
}

const TITLES = Object.fromEntries(scenarios(false).map((s) => [s.id, s.title])) as Record<
  ScenarioId,
  string
>;

function table(results: readonly SystemResult[]): string {
  const header = [
    'scenario',
    'system',
    'held',
    'probes ok / failed',
    'probe p50 / p99 / max ms (before: p50 / p99)',
    'RSS MB before / peak / after',
    'server closed after s: min / median / max',
    'closed / still open',
    'how (reply + close)',
    'upstream conns before / peak / at end',
  ];
  const rows = results.map((r) => {
    const d = r.during;
    const c = r.close;
    const failures = Object.entries(d.failures)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return [
      TITLES[r.scenario],
      r.system,
      `${c.held}${c.failedOpenings > 0 ? ` (${c.failedOpenings} failed)` : ''}`,
      `${d.requests - d.failed} / ${d.failed}${failures === '' ? '' : ` (${failures})`}`,
      `${ms(d.p50Ms)} / ${ms(d.p99Ms)} / ${ms(d.maxMs)} (${ms(r.baseline.p50Ms)} / ${ms(r.baseline.p99Ms)})`,
      `${f0(r.rssBeforeMb)} / ${f0(r.rssPeakMb)} / ${f0(r.rssAfterMb)}`,
      `${f1(c.minS)} / ${f1(c.medianS)} / ${f1(c.maxS)}`,
      `${c.closed} / ${c.stillOpen}`,
      Object.entries(c.how)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ×${v}`)
        .join(', ') || '-',
      `${r.upstreamBefore} / ${r.upstreamPeak} / ${r.upstreamAtEnd}` +
        (r.upstreamReleasedS === null ? '' : ` (released at ${f0(r.upstreamReleasedS)} s)`),
    ];
  });
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function timelines(results: readonly SystemResult[]): string {
  const lines = results
    .filter((r) => r.scenario === 'slowbody')
    .map((r) => {
      const points: string[] = [];
      const step = r.endS > 120 ? 30 : 10;
      for (let sec = 0; sec <= r.endS; sec += step) {
        const p = r.upstreamSeries.find(([s]) => s >= sec && s <= r.endS);
        if (p === undefined) break;
        points.push(`${sec}s:${p[1]}`);
      }
      return `- slow body, ${r.system}: upstream connections ${points.join(' ')}`;
    });
  return lines.join('\n');
}

export interface HostileOptions {
  readonly quick: boolean;
  readonly src: boolean;
  /** Comma-separated scenario ids. */
  readonly only?: string;
  /** Overrides, for exploring: connections per system, and the cap in seconds. */
  readonly count?: string;
  readonly cap?: string;
  readonly out?: string;
}

export async function runHostileLoad(options: HostileOptions): Promise<void> {
  const mode = options.quick ? 'quick' : 'full';
  const all = scenarios(options.quick);
  const only = options.only?.split(',');
  const chosen = all
    .filter((s) => only === undefined || only.includes(s.id))
    .map((s) => ({
      ...s,
      plan: {
        ...s.plan,
        count: options.count === undefined ? s.plan.count : Number(options.count),
      },
      capMs: options.cap === undefined ? s.capMs : Number(options.cap) * 1000,
    }));
  if (chosen.length === 0) throw new Error(`--only takes ${all.map((s) => s.id).join(',')}`);
  // Each system's attack runs in a process of its own; the proxy holds as many, plus its pool.
  const need = Math.max(...chosen.map((s) => s.plan.count)) + 2_000;
  const nofile = raiseNofile(NOFILE);
  if (nofile < need) {
    throw new Error(`open files limit ${nofile} < ${need}: run \`ulimit -n ${NOFILE}\` first`);
  }
  const nginx = which('nginx');
  if (nginx === undefined || which('taskset') === undefined || which('ss') === undefined) {
    throw new Error(
      'needs nginx, taskset and ss (apt-get install nginx-light util-linux iproute2)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'rp-hostile-'));
  installTraps(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const cli = process.env.BENCH_PROXY_CLI ?? (options.src ? SOURCE_CLI : buildProxy());
    say(`${mode}: proxy under test: node ${cli}; open files limit ${nofile}`);
    const startedAt = new Date().toISOString();
    const upstreams = {} as Record<SystemId, number>;
    for (const id of ['proxy', 'nginx'] as const) {
      const port = await freePort();
      const upstreamDir = join(dir, `upstream-${id}`);
      await mkdir(upstreamDir);
      const config = roomy(await upstreamConfig(upstreamDir, port));
      await startNginx(nginx, upstreamDir, config, port, LOAD_CPU);
      upstreams[id] = port;
    }
    const env: Env = { dir, nginx, cli, upstreams };
    const results: SystemResult[] = [];
    for (const spec of chosen) results.push(...(await runScenario(env, spec)));
    const counts = chosen.map((s) => `${s.id} ${s.plan.count}`).join(', ');
    const markdown = renderMarkdown(
      `hostile load, ${mode} (${counts} connections per system), ${startedAt}`,
      results,
    );
    const outDir = options.out ?? fileURLToPath(new URL('results/', import.meta.url));
    await mkdir(outDir, { recursive: true });
    const base = join(outDir, `hostile-${mode}-${startedAt.replace(/[:.]/g, '-')}`);
    await writeFile(`${base}.md`, markdown);
    await writeFile(`${base}.json`, `${JSON.stringify({ mode, startedAt, results }, null, 2)}\n`);
    process.stdout.write(`${markdown}\nwritten: ${base}.{md,json}\n`);
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      src: { type: 'boolean', default: false },
      only: { type: 'string' },
      count: { type: 'string' },
      cap: { type: 'string' },
      out: { type: 'string' },
    },
  });
  runHostileLoad(values).catch(async (err: unknown) => {
    process.stderr.write(
      `hostile load failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    await stopAll();
    // A probe worker or timer left behind by the failure must not keep the run alive.
    process.exit(1);
  });
}

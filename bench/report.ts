import type { Bar } from './chart.ts';
import type { BenchResults, Run } from './results.ts';
import { SCENARIOS } from './scenarios.ts';
import type { SystemId } from './scenarios.ts';
import { median } from './stats.ts';

const MB = 1024 * 1024;

/** Medians over rounds for one scenario and system. */
export interface Summary {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssMb: number;
  /** CPU used by the system under test, as a share of one core over the run. */
  readonly cpuShare: number;
  /** Requests per CPU-second of the system under test. */
  readonly rpsPerCpu: number;
  readonly errors: number;
  readonly listenOverflows: number;
}

export function summarize(runs: readonly Run[], scenario: string, system: SystemId): Summary {
  const mine = runs.filter((r) => r.scenario === scenario && r.system === system);
  return {
    rps: median(mine.map((r) => r.rps)),
    p50Ms: median(mine.map((r) => r.p50Us / 1000)),
    p99Ms: median(mine.map((r) => r.p99Us / 1000)),
    rssMb: median(mine.map((r) => r.rssBytes / MB)),
    cpuShare: median(mine.map((r) => (r.cpuSeconds ?? NaN) / (r.durationUs / 1e6))),
    rpsPerCpu: median(mine.map((r) => r.requests / (r.cpuSeconds ?? NaN))),
    errors: mine.reduce((n, r) => n + r.socketErrors + r.statusErrors, 0),
    listenOverflows: mine.reduce((n, r) => n + r.counters.listenOverflows, 0),
  };
}

/**
 * The proxy against the Node floor (bench/node-floor.ts) in the scenarios it runs: what the
 * proxy's own work costs on top of what the runtime does. Its target: that work takes at most
 * a tenth of the throughput.
 */
function floorChecks(s: (scenario: string, system: SystemId) => Summary): TargetCheck[] {
  return SCENARIOS.filter((sc) => sc.systems.includes('floor')).map((sc) => {
    const proxy = s(sc.id, 'proxy').rps;
    const floor = s(sc.id, 'floor').rps;
    const nginx = s(sc.id, 'nginx').rps;
    return {
      target: `${sc.title}: >= 0.9x the Node floor`,
      measured: `${(proxy / floor).toFixed(2)}x (the floor itself: ${(floor / nginx).toFixed(2)}x nginx)`,
      ok: proxy / floor >= 0.9,
    };
  });
}

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly ok: boolean;
}

/** The issue's targets, judged on this run's medians. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const s = (scenario: string, system: SystemId) => summarize(results.runs, scenario, system);
  const get2k = {
    nginx: s('get2k', 'nginx'),
    proxy: s('get2k', 'proxy'),
    big: s('get2k', 'proxy10k'),
  };
  const ratio = (a: number, b: number) => a / b;
  const x = (v: number) => `${v.toFixed(2)}x`;
  const c1 = { nginx: s('c1', 'nginx'), proxy: s('c1', 'proxy') };
  const c256 = s('c256', 'proxy');
  const post = { nginx: s('post1m', 'nginx'), proxy: s('post1m', 'proxy') };
  const tlsRatio = (scenario: string) => ratio(s(scenario, 'proxy').rps, s(scenario, 'nginx').rps);
  const tlsnew = { nginx: s('tlsnew', 'nginx'), proxy: s('tlsnew', 'proxy') };
  const tlsnewPerCpu = ratio(tlsnew.proxy.rpsPerCpu, tlsnew.nginx.rpsPerCpu);
  const { reload, soak, memory } = results;
  // From the first tenth on: the first samples are the proxy growing into the load.
  const growth = (samples: readonly number[]) =>
    (samples.at(-1) ?? 0) - (samples[1] ?? samples[0] ?? 0);
  const soakGrowth = growth(soak.rssSamples);
  const controlGrowth = growth(soak.controlRssSamples);
  const mb = (samples: readonly number[]) => samples.map((b) => (b / MB).toFixed(0)).join(' -> ');
  const signed = (bytes: number) => `${bytes >= 0 ? '+' : ''}${(bytes / MB).toFixed(1)} MB`;
  return [
    {
      target: '2 KB GET, 64 conns: >= 0.45x nginx',
      measured: x(ratio(get2k.proxy.rps, get2k.nginx.rps)),
      ok: ratio(get2k.proxy.rps, get2k.nginx.rps) >= 0.45,
    },
    ...(['rr3', 'rules'] as const).map((id) => {
      const r = ratio(s(id, 'proxy').rps, s(id, 'nginx').rps);
      const title = SCENARIOS.find((sc) => sc.id === id)?.title ?? id;
      return { target: `${title}: >= 0.45x nginx`, measured: x(r), ok: r >= 0.45 };
    }),
    ...floorChecks(s),
    {
      target: '1 conn p50: <= 2x nginx',
      measured: `${c1.proxy.p50Ms.toFixed(3)} ms vs ${c1.nginx.p50Ms.toFixed(3)} ms (${x(ratio(c1.proxy.p50Ms, c1.nginx.p50Ms))})`,
      ok: ratio(c1.proxy.p50Ms, c1.nginx.p50Ms) <= 2,
    },
    {
      target: '256 conns: p99 <= 150 ms',
      measured: `${c256.p99Ms.toFixed(1)} ms`,
      ok: c256.p99Ms <= 150,
    },
    {
      target: '1 MB POST streamed: >= 0.5x nginx',
      measured: x(ratio(post.proxy.rps, post.nginx.rps)),
      ok: ratio(post.proxy.rps, post.nginx.rps) >= 0.5,
    },
    {
      target: 'TLS 2 KB GET, keep-alive, 64 conns: >= 0.45x nginx',
      measured: x(tlsRatio('tls2k')),
      ok: tlsRatio('tls2k') >= 0.45,
    },
    {
      // wrk shares CPU 0 with the upstream and pays for its own half of every handshake, so
      // nginx may not be saturated: judged on handshakes per CPU-second of each server, which
      // equals the plain ratio when both run flat out.
      target:
        'new TLS connections (one request each): >= 0.35x nginx, per CPU-second of each server',
      measured:
        `${x(tlsnewPerCpu)} per CPU-second (${Math.round(tlsnew.proxy.rpsPerCpu)} vs ${Math.round(tlsnew.nginx.rpsPerCpu)}); ` +
        `${x(tlsRatio('tlsnew'))} per second (${Math.round(tlsnew.proxy.rps)} vs ${Math.round(tlsnew.nginx.rps)} handshakes/s, ` +
        `CPU ${(100 * tlsnew.proxy.cpuShare).toFixed(0)}% vs ${(100 * tlsnew.nginx.cpuShare).toFixed(0)}%)`,
      ok: tlsnewPerCpu >= 0.35,
    },
    {
      target: "HTTP/2 2 KB GET: >= 0.4x nginx's h2",
      // h2load is one thread on CPU 0: its CPU share says whether nginx ran flat out.
      measured:
        `${x(tlsRatio('h2'))} (CPU ${(100 * s('h2', 'proxy').cpuShare).toFixed(0)}% vs ${(100 * s('h2', 'nginx').cpuShare).toFixed(0)}%; ` +
        `${x(s('h2', 'proxy').rpsPerCpu / s('h2', 'nginx').rpsPerCpu)} per CPU-second)`,
      ok: tlsRatio('h2') >= 0.4,
    },
    {
      target: `${reload.sites} sites: >= 0.9x the 1-site throughput`,
      measured: x(ratio(get2k.big.rps, get2k.proxy.rps)),
      ok: ratio(get2k.big.rps, get2k.proxy.rps) >= 0.9,
    },
    {
      target: `${reload.sites}-site reload: <= 250 ms, no failed request, RSS +<= 50 MB`,
      measured: `median ${reload.reloadMsMedian.toFixed(0)} ms, max ${reload.reloadMsMax.toFixed(0)} ms, ${reload.reloads} reloads (${reload.failedReloads} failed), ${reload.socketErrors + reload.statusErrors} failed requests, RSS ${((reload.rssAfterBytes - reload.rssBeforeBytes) / MB).toFixed(1)} MB`,
      ok:
        reload.reloadMsMax <= 250 &&
        reload.failedReloads === 0 &&
        reload.socketErrors + reload.statusErrors === 0 &&
        reload.rssAfterBytes - reload.rssBeforeBytes <= 50 * MB,
    },
    {
      target: 'RSS under 256 conns: <= 100 MB',
      measured:
        `${(memory.peakBytes / MB).toFixed(0)} MB fresh (${(memory.idleBytes / MB).toFixed(0)} MB idle); ` +
        `${c256.rssMb.toFixed(0)} MB in the rounds, after 64 KB GETs and 1 MB POSTs`,
      ok: memory.peakBytes <= 100 * MB,
    },
    {
      target: `soak (${soak.reloads} reloads, 256 conns): no RSS growth beyond the same load's without reloads (+10 MB), no failed request`,
      measured:
        `with reloads ${mb(soak.rssSamples)} MB (${signed(soakGrowth)}); ` +
        `same load, no reloads ${mb(soak.controlRssSamples)} MB (${signed(controlGrowth)}); ` +
        `${soak.requests} requests in ${soak.seconds.toFixed(0)} s, ${soak.socketErrors + soak.statusErrors} failed`,
      ok: soakGrowth - controlGrowth <= 10 * MB && soak.socketErrors + soak.statusErrors === 0,
    },
  ];
}

/** The scenario table: medians, ratio to nginx, RSS; then the targets. */
export function markdownReport(results: BenchResults): string {
  const rounds = Math.max(...results.runs.map((r) => r.round)) + 1;
  const lines = [
    `# reverse-proxy vs nginx (${results.mode} mode, ${rounds} interleaved rounds, medians)`,
    '',
    `${results.startedAt}; ${Object.entries(results.machine)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}`,
    '',
    '| scenario | system | req/s | x nginx | p50 ms | p99 ms | RSS MB | CPU % | errors | listen overflows |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const scenario of SCENARIOS) {
    const nginx = summarize(results.runs, scenario.id, 'nginx');
    for (const system of scenario.systems) {
      const m = summarize(results.runs, scenario.id, system);
      const name =
        system === 'proxy10k'
          ? `proxy, ${results.reload.sites} sites`
          : system === 'floor'
            ? 'Node floor (node:http + undici, no proxy logic)'
            : system;
      lines.push(
        `| ${scenario.title} | ${name} | ${Math.round(m.rps).toLocaleString('en-US')} | ${(m.rps / nginx.rps).toFixed(2)} | ${m.p50Ms.toFixed(3)} | ${m.p99Ms.toFixed(1)} | ${m.rssMb.toFixed(0)} | ${Number.isNaN(m.cpuShare) ? '-' : (100 * m.cpuShare).toFixed(0)} | ${m.errors} | ${m.listenOverflows} |`,
      );
    }
  }
  const r = results.reload;
  lines.push(
    '',
    `Reload every 100 ms under 2 KB GET load (64 conns, ${r.sites} sites, ${r.seconds} s): ${r.reloads} reloads, ` +
      `median ${r.reloadMsMedian.toFixed(0)} ms, max ${r.reloadMsMax.toFixed(0)} ms (SIGHUP to log line), ` +
      `${Math.round(r.rps).toLocaleString('en-US')} req/s, ${r.socketErrors} socket errors, ${r.statusErrors} non-2xx, ` +
      `RSS ${(r.rssBeforeBytes / MB).toFixed(0)} -> ${(r.rssAfterBytes / MB).toFixed(0)} MB.`,
    '',
    `Memory, a fresh proxy on the small config serving only the 2 KB GET: ${(results.memory.idleBytes / MB).toFixed(0)} MB idle, ` +
      `${(results.memory.peakBytes / MB).toFixed(0)} MB peak under 256 conns ` +
      `(${Math.round(results.memory.rps).toLocaleString('en-US')} req/s, p99 ${(results.memory.p99Us / 1000).toFixed(1)} ms).`,
    '',
    '| target | measured | holds |',
    '|---|---|---|',
    ...checkTargets(results).map(
      (t) => `| ${t.target} | ${t.measured} | ${t.ok ? 'yes' : '**no**'} |`,
    ),
    '',
  );
  return lines.join('\n');
}

/** Bars for the chart: throughput as proxy/nginx; latency as nginx/proxy, so longer is better. */
export function chartBars(results: BenchResults): Bar[] {
  const s = (scenario: string, system: SystemId) => summarize(results.runs, scenario, system);
  const rps = (scenario: string, system: SystemId = 'proxy') =>
    s(scenario, system).rps / s(scenario, 'nginx').rps;
  return [
    { label: '2 KB GET, 64 conns', ratio: rps('get2k'), target: 0.45 },
    { label: `2 KB GET, ${results.reload.sites} sites`, ratio: rps('get2k', 'proxy10k') },
    { label: '2 KB GET, 3 upstreams RR', ratio: rps('rr3'), target: 0.45 },
    { label: '2 KB GET, header rules', ratio: rps('rules'), target: 0.45 },
    { label: '64 KB GET, 64 conns', ratio: rps('get64k') },
    { label: '1 MB POST streamed', ratio: rps('post1m'), target: 0.5 },
    { label: '2 KB GET, 256 conns', ratio: rps('c256') },
    { label: 'TLS 2 KB GET, keep-alive', ratio: rps('tls2k'), target: 0.45 },
    {
      label: 'new TLS conns per CPU-s',
      ratio: s('tlsnew', 'proxy').rpsPerCpu / s('tlsnew', 'nginx').rpsPerCpu,
      target: 0.35,
    },
    { label: 'HTTP/2 2 KB GET', ratio: rps('h2'), target: 0.4 },
    {
      label: '1 conn p50 (nginx/proxy)',
      ratio: s('c1', 'nginx').p50Ms / s('c1', 'proxy').p50Ms,
      target: 0.5,
    },
  ];
}

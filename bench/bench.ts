/**
 * `npm run bench [-- --quick | --smoke] [--src] [--idle-conns N] [--only ID,...] [--hostile]`: this proxy
 * (compiled; from src with `--src`) against nginx (1 worker) on 127.0.0.1, pinned with taskset
 * (wrk and the upstream on CPU 0, the proxy under test on CPU 1), in interleaved rounds, with
 * the Node floor and two ceilings alongside; then memory (a fresh proxy under 256 connections,
 * N idle keep-alive connections on the proxy and on nginx), reloads and a soak. Writes a
 * markdown table, a JSON file and an SVG chart under bench/results/. Everything it starts it
 * stops, by PID. `--only gzip64k,get2k` runs just those scenarios' rounds (ids in
 * bench/scenarios.ts) and prints their table: no memory, reload or soak runs, no files.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ratioChart } from './chart.ts';
import {
  childPids,
  cpuSecondsOf,
  installTraps,
  raiseNofile,
  rssOf,
  spawnPinned,
  stopAll,
  stopChild,
} from './children.ts';
import { freePort } from './free-port.ts';
import { diffCounters, readListenCounters } from './netstat.ts';
import { idleCost } from './idle-conns.ts';
import { referenceConfig, startNginx, upstreamConfig, withRoom } from './nginx.ts';
import { BENCH_HOST, buildProxy, proxyConfig, SOURCE_CLI, startProxyUnderTest } from './proxy.ts';
import type { ProxyUnderTest } from './proxy.ts';
import { chartBars, checkTargets, markdownReport, scenarioReport } from './report.ts';
import type {
  BenchResults,
  IdleResult,
  MemoryResult,
  ReloadResult,
  Run,
  SoakResult,
} from './results.ts';
import { MODES, SCENARIOS } from './scenarios.ts';
import type { ModeSettings, Scenario, SystemId } from './scenarios.ts';
import { median } from './stats.ts';
import { runH2load } from './h2load.ts';
import { ensureTools } from './tools.ts';
import type { Tools } from './tools.ts';
import { runWrk, writeWrkScripts } from './wrk.ts';

const LOAD_CPU = 0;
const PROXY_CPU = 1;
const BOTH_CPUS = '0,1';

interface System {
  readonly id: SystemId;
  readonly port: number;
  /** Its HTTPS (and HTTP/2) port, for the TLS scenarios. */
  readonly tlsPort?: number;
  /** RSS of the whole system: nginx's master and workers, or the proxy process. */
  rss(): number;
  /** CPU seconds the whole system has used so far. */
  cpu(): number;
}

const say = (text: string) => process.stderr.write(`[bench] ${text}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      src: { type: 'boolean', default: false },
      out: { type: 'string' },
      hostile: { type: 'boolean', default: false },
      only: { type: 'string' },
      count: { type: 'string' },
      cap: { type: 'string' },
      'idle-conns': { type: 'string' },
    },
  });
  if (values.hostile) {
    // Slowloris, idle keep-alive and slow bodies against both systems (bench/hostile-load.ts).
    const { runHostileLoad } = await import('./hostile-load.ts');
    return runHostileLoad(values);
  }
  const mode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full';
  const idleArg = values['idle-conns'];
  const settings: ModeSettings =
    idleArg === undefined ? MODES[mode] : { ...MODES[mode], idleConnections: Number(idleArg) };
  if (!(settings.idleConnections > 0)) throw new Error('--idle-conns takes a positive number');
  const dir = await mkdtemp(join(tmpdir(), 'rp-bench-'));
  installTraps(() => rmSync(dir, { recursive: true, force: true }));
  const tools = ensureTools();
  const scenarios = selectScenarios(values.only);
  try {
    // BENCH_PROXY_CLI points at another build (another commit's, to compare engines).
    const cli = process.env.BENCH_PROXY_CLI ?? (values.src ? SOURCE_CLI : buildProxy());
    say(`proxy under test: node ${cli}`);
    const results = await runAll(mode, settings, tools, dir, cli, scenarios);
    if (Array.isArray(results)) {
      process.stdout.write(scenarioReport(results, scenarios));
      return;
    }
    const outDir = values.out ?? fileURLToPath(new URL('results/', import.meta.url));
    await mkdir(outDir, { recursive: true });
    const stamp = results.startedAt.replace(/[:.]/g, '-');
    const base = join(outDir, `bench-${mode}-${stamp}`);
    const markdown = markdownReport(results);
    await writeFile(`${base}.md`, markdown);
    await writeFile(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(
      `${base}.svg`,
      ratioChart(`reverse-proxy / nginx (${mode})`, chartBars(results)),
    );
    process.stdout.write(`${markdown}\nwritten: ${base}.{md,json,svg}\n`);
    if (mode === 'smoke') {
      // CI checks that the benchmark works, not how fast this machine is.
      const sane =
        results.runs.every((r) => r.requests > 0) &&
        results.reload.reloads > 0 &&
        (results.idle?.proxy.held ?? 0) > 0 &&
        (results.idle?.nginx.held ?? 0) > 0;
      if (!sane) throw new Error('a scenario served no request, or held no idle connection');
    } else if (checkTargets(results).some((t) => !t.ok)) {
      say('some targets do not hold (see the table)');
    }
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

async function expectGzip(port: number, path: string): Promise<void> {
  const req = http.get(`http://127.0.0.1:${port}${path}`, {
    headers: { host: BENCH_HOST, 'accept-encoding': 'gzip' },
    agent: false,
  });
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  res.resume();
  await once(res, 'end');
  if (res.headers['content-encoding'] !== 'gzip') {
    throw new Error(
      `port ${port}${path}: not gzip (${res.statusCode} ${res.headers['content-type']})`,
    );
  }
}

/** The scenarios `--only` names (all without it); an unknown id is an error, not a skip. */
function selectScenarios(only: string | undefined): readonly Scenario[] {
  if (only === undefined) return SCENARIOS;
  const ids = only.split(',').filter((id) => id !== '');
  const unknown = ids.filter((id) => !SCENARIOS.some((sc) => sc.id === id));
  if (unknown.length > 0) throw new Error(`--only: no scenario ${unknown.join(', ')}`);
  return SCENARIOS.filter((sc) => ids.includes(sc.id));
}

/** Everything, or (`--only`) just the rounds of some scenarios, returned as their runs. */
async function runAll(
  mode: string,
  settings: ModeSettings,
  tools: Tools,
  dir: string,
  cli: string,
  scenarios: readonly Scenario[],
): Promise<BenchResults | Run[]> {
  const startedAt = new Date().toISOString();
  await writeWrkScripts(dir);
  const tls = makeCertificate(tools.openssl, dir);
  const upstreamPort = await freePort();
  // The 3-upstream scenario's pool: the upstream's own port and two more of the same server.
  const poolPorts = [upstreamPort, await freePort(), await freePort()];
  const upstreamDir = join(dir, 'upstream');
  await mkdir(upstreamDir);
  await startNginx(
    tools.nginx,
    upstreamDir,
    await upstreamConfig(upstreamDir, upstreamPort, poolPorts),
    upstreamPort,
    LOAD_CPU,
  );
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const pool = poolPorts.map((p) => `http://127.0.0.1:${p}`);

  const nginxPort = await freePort();
  const nginxTlsPort = await freePort();
  const nginxDir = join(dir, 'nginx');
  const nginx = await startNginx(
    tools.nginx,
    nginxDir,
    referenceConfig(nginxDir, nginxPort, upstreamPort, { port: nginxTlsPort, ...tls }, poolPorts),
    nginxPort,
    PROXY_CPU,
  );
  // Issue 18: nginx with two workers and the proxy with two, both on both CPUs.
  const nginx2Port = await freePort();
  const nginx2Dir = join(dir, 'nginx2w');
  const nginx2 = await startNginx(
    tools.nginx,
    nginx2Dir,
    referenceConfig(nginx2Dir, nginx2Port, upstreamPort, undefined, poolPorts).replace(
      'worker_processes 1;',
      'worker_processes 2;',
    ),
    nginx2Port,
    BOTH_CPUS,
  );
  const small = await startProxy(dir, 'proxy', proxyConfig(upstreamUrl, 0, 0, tls, pool), cli);
  const twoWorkers = await startProxy(
    dir,
    'proxy2w',
    proxyConfig(upstreamUrl, 0, 0, undefined, pool),
    cli,
    ['--workers', '2'],
    BOTH_CPUS,
  );
  say(`writing the ${settings.sites}-site config`);
  const bigConfigs = [0, 1].map((v) =>
    proxyConfig(upstreamUrl, settings.sites, v, undefined, pool),
  );
  const big = await startProxy(dir, 'proxy10k', bigConfigs[0] as string, cli);
  const floor = await startHelper('node-floor.ts', [upstreamUrl, tls.cert, tls.key]);
  const pipe = await startHelper('ceiling-pipe.ts', [upstreamUrl]);
  const llhttp = await startHelper('ceiling-llhttp.ts', [upstreamUrl]);
  const systems: Record<SystemId, System> = {
    nginx: {
      id: 'nginx',
      port: nginxPort,
      tlsPort: nginxTlsPort,
      rss: () => treeRss(nginx.pid),
      cpu: () => treeCpu(nginx.pid),
    },
    proxy: systemOf(small),
    proxy10k: systemOf(big, 'proxy10k'),
    floor: helperSystem('floor', floor),
    pipe: helperSystem('pipe', pipe),
    llhttp: helperSystem('llhttp', llhttp),
    nginx2w: treeSystem('nginx2w', nginx2Port, nginx2.pid),
    proxy2w: treeSystem('proxy2w', twoWorkers.proxy.port, twoWorkers.proxy.child.pid),
  };

  const load = (
    system: System,
    path: string,
    connections: number,
    seconds: number,
    post1m = false,
    headers: readonly string[] = [],
    host = BENCH_HOST,
  ) =>
    runWrk(tools.wrk, dir, {
      url: `http://127.0.0.1:${system.port}${path}`,
      host,
      connections,
      seconds,
      post1m,
      headers,
    });

  /** A scenario's load: wrk on plain HTTP or HTTPS, h2load for HTTP/2. */
  const loadScenario = (system: System, scenario: Scenario, seconds: number) => {
    if (scenario.transport === undefined) {
      return load(
        system,
        scenario.path,
        scenario.connections,
        seconds,
        scenario.post1m,
        scenario.headers,
        scenario.host,
      );
    }
    if (system.tlsPort === undefined) throw new Error(`${system.id} has no TLS listener`);
    if (scenario.transport === 'h2') {
      return runH2load(tools.h2load, dir, {
        url: `https://${BENCH_HOST}:${system.tlsPort}${scenario.path}`,
        connectTo: `127.0.0.1:${system.tlsPort}`,
        connections: scenario.connections,
        streams: scenario.streams ?? 1,
        seconds,
      });
    }
    return runWrk(tools.wrk, dir, {
      url: `https://127.0.0.1:${system.tlsPort}${scenario.path}`,
      host: BENCH_HOST,
      connections: scenario.connections,
      seconds,
      headers: scenario.transport === 'tls-new' ? ['Connection: close'] : [],
    });
  };

  say(`${mode}: warming up`);
  const used = new Set(scenarios.flatMap((sc) => sc.systems));
  for (const system of Object.values(systems).filter((sys) => used.has(sys.id)))
    await load(system, '/2k', 64, settings.warmupSeconds);
  // TLS and HTTP/2 have their own code paths to warm (handshakes, the h2 session), and so do
  // the routes over three upstreams and with header rules.
  const ownPaths = (sc: Scenario) =>
    sc.transport !== undefined || ['rr3', 'rules', 'guarded', 'matched', 'gzip64k'].includes(sc.id);
  for (const scenario of scenarios.filter(ownPaths)) {
    for (const id of scenario.systems) await loadScenario(systems[id], scenario, 1);
  }
  // wrk counts responses, not encodings: make sure both sides really compress.
  for (const scenario of scenarios.filter((sc) => sc.id === 'gzip64k')) {
    for (const id of scenario.systems) await expectGzip(systems[id].port, scenario.path);
  }

  const runs: Run[] = [];
  for (let round = 0; round < settings.rounds; round++) {
    for (const scenario of scenarios) {
      for (const id of scenario.systems) {
        const system = systems[id];
        const before = readListenCounters();
        const cpuBefore = system.cpu();
        let peak = 0;
        const sampler = setInterval(() => (peak = Math.max(peak, system.rss())), 250);
        const result = await loadScenario(system, scenario, settings.seconds);
        clearInterval(sampler);
        peak = Math.max(peak, system.rss());
        const counters = diffCounters(before, readListenCounters());
        const cpuSeconds = system.cpu() - cpuBefore;
        runs.push({
          ...result,
          scenario: scenario.id,
          system: id,
          round,
          rssBytes: peak,
          cpuSeconds,
          counters,
        });
        say(
          `round ${round + 1}/${settings.rounds} ${scenario.id} ${id}: ${Math.round(result.rps)} req/s, ` +
            `p50 ${(result.p50Us / 1000).toFixed(3)} ms, p99 ${(result.p99Us / 1000).toFixed(1)} ms, ` +
            `errors ${result.socketErrors + result.statusErrors}, rss ${(peak / 2 ** 20).toFixed(0)} MB, ` +
            `cpu ${((100 * cpuSeconds) / (result.durationUs / 1e6)).toFixed(0)}%`,
        );
      }
    }
  }

  if (scenarios.length !== SCENARIOS.length) return runs;
  const primaryPid = twoWorkers.proxy.child.pid;
  const workers = {
    primaryBytes: rssOf(primaryPid),
    workerBytes: childPids(primaryPid).map((pid) => rssOf(pid)),
  };
  say('memory: a fresh proxy under 256 connections');
  const memory = await freshMemory(
    dir,
    proxyConfig(upstreamUrl, 0, 0, undefined, pool),
    cli,
    settings,
    load,
  );
  const idle = await idleMemory(dir, tools, upstreamPort, pool, cli, settings, load);
  say(`reload every 100 ms for ${settings.reloadSeconds} s on ${settings.sites} sites`);
  const reload = await reloadUnderLoad(big, bigConfigs, systems.proxy10k, settings, load);
  say(`soak: ${settings.soakReloads} reloads under 256 connections, then the same load alone`);
  const smallConfigs = [1, 2].map((v) => proxyConfig(upstreamUrl, 0, v, undefined, pool));
  const soak = await soak256(dir, smallConfigs, cli, settings, load);

  return {
    mode,
    startedAt,
    machine: machineInfo(tools),
    runs,
    reload: { ...reload, sites: settings.sites },
    soak,
    memory,
    idle,
    workers,
  };
}

/**
 * RSS under 256 connections on a proxy that served nothing else: the rounds' proxy has streamed
 * 64 KB and 1 MB bodies before, and neither V8 nor malloc hands that memory back.
 */
async function freshMemory(
  dir: string,
  config: string,
  cli: string,
  settings: ModeSettings,
  load: Load,
): Promise<MemoryResult> {
  const fresh = await startProxy(dir, 'proxy-fresh', config, cli);
  try {
    const system = systemOf(fresh);
    const idleBytes = system.rss();
    await load(system, '/2k', 64, settings.warmupSeconds);
    let peakBytes = 0;
    const sampler = setInterval(() => (peakBytes = Math.max(peakBytes, system.rss())), 250);
    const result = await load(system, '/2k', 256, settings.seconds);
    clearInterval(sampler);
    peakBytes = Math.max(peakBytes, system.rss());
    return { idleBytes, peakBytes, rps: result.rps, p99Us: result.p99Us };
  } finally {
    await stopChild(fresh.proxy.child);
  }
}

interface Helper {
  readonly pid: number;
  readonly port: number;
  readonly tlsPort?: number;
}

/**
 * A helper system from bench/ (the Node floor, a ceiling) pinned like the proxy; it prints
 * `{"port":N[,"tlsPort":M]}` once it listens.
 */
async function startHelper(script: string, args: readonly string[]): Promise<Helper> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  let out = '';
  let ready: (line: string) => void = () => undefined;
  const line = new Promise<string>((resolve) => (ready = resolve));
  const child = spawnPinned(PROXY_CPU, process.execPath, [file, ...args], (chunk) => {
    out += chunk;
    if (out.includes('\n')) ready(out.slice(0, out.indexOf('\n')));
  });
  const first = await Promise.race([
    line,
    once(child, 'exit').then(([code]) => {
      throw new Error(`bench/${script} exited with ${code} before listening`);
    }),
  ]);
  const { port, tlsPort } = JSON.parse(first) as { port: number; tlsPort?: number };
  return { pid: child.pid as number, port, ...(tlsPort === undefined ? {} : { tlsPort }) };
}

function helperSystem(id: SystemId, helper: Helper): System {
  return {
    id,
    port: helper.port,
    ...(helper.tlsPort === undefined ? {} : { tlsPort: helper.tlsPort }),
    rss: () => rssOf(helper.pid),
    cpu: () => cpuSecondsOf(helper.pid),
  };
}

/**
 * Issue 17's idle keep-alive cost: a fresh proxy (small config), then a fresh nginx (the
 * reference config with room for the connections), each warmed up with the 2 KB GET at 64
 * connections, then `settings.idleConnections` idle keep-alive connections held on it
 * (bench/idle-conns.ts). nginx's figure is its worker's RSS (the master holds no connection).
 */
async function idleMemory(
  dir: string,
  tools: Tools,
  upstreamPort: number,
  pool: readonly string[],
  cli: string,
  settings: ModeSettings,
  load: Load,
): Promise<{ proxy: IdleResult; nginx: IdleResult }> {
  // The client holds `count` descriptors, the proxy as many plus its upstream pool (up to one
  // per connection of a batch of 250); children inherit this process's limit.
  const margin = 1_100;
  const nofile = raiseNofile(settings.idleConnections + margin);
  const count = Math.min(settings.idleConnections, nofile - margin);
  if (count < settings.idleConnections) {
    say(
      `open files limit ${nofile}: ${count} idle connections instead of ${settings.idleConnections}`,
    );
  }
  const warm = async (system: System) => {
    await load(system, '/2k', 64, settings.warmupSeconds);
    await sleep(1_000);
  };
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  say(`memory: ${count} idle keep-alive connections on a fresh proxy`);
  const fresh = await startProxy(
    dir,
    'proxy-idle',
    proxyConfig(upstreamUrl, 0, 0, undefined, pool),
    cli,
  );
  let proxy: IdleResult;
  try {
    const system = systemOf(fresh);
    await warm(system);
    proxy = await idleCost(system.port, count, LOAD_CPU, system.rss);
  } finally {
    await stopChild(fresh.proxy.child);
  }
  say(`memory: ${count} idle keep-alive connections on a fresh nginx`);
  const port = await freePort();
  const nginxDir = join(dir, 'nginx-idle');
  const child = await startNginx(
    tools.nginx,
    nginxDir,
    withRoom(referenceConfig(nginxDir, port, upstreamPort), count + 2_048, count + margin),
    port,
    PROXY_CPU,
  );
  try {
    const worker = () => childPids(child.pid).reduce<number>((n, pid) => n + rssOf(pid), 0);
    await warm({ id: 'nginx', port, rss: worker, cpu: () => 0 });
    const nginx = await idleCost(port, count, LOAD_CPU, worker);
    return { proxy, nginx };
  } finally {
    await stopChild(child);
  }
}

interface StartedProxy {
  readonly proxy: ProxyUnderTest;
  readonly configPath: string;
}

function systemOf(started: StartedProxy, id: SystemId = 'proxy'): System {
  const { port, tlsPort } = started.proxy;
  return {
    id,
    port,
    ...(tlsPort === undefined ? {} : { tlsPort }),
    rss: () => rssOf(started.proxy.child.pid),
    cpu: () => cpuSecondsOf(started.proxy.child.pid),
  };
}

/**
 * One ECDSA P-256 certificate for bench.local, made in the run's temp directory (removed with
 * it; no key is ever committed), served by nginx and the proxy alike.
 */
function makeCertificate(openssl: string, dir: string): { cert: string; key: string } {
  const cert = join(dir, 'bench.crt');
  const key = join(dir, 'bench.key');
  execFileSync(
    openssl,
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${BENCH_HOST}`,
      '-addext',
      `subjectAltName=DNS:${BENCH_HOST},DNS:*.${BENCH_HOST}`,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

async function startProxy(
  dir: string,
  name: string,
  config: string,
  cli: string,
  serveArgs: readonly string[] = [],
  cpu: number | string = PROXY_CPU,
) {
  const configPath = join(dir, `${name}.yaml`);
  await writeFile(configPath, config);
  const proxy = await startProxyUnderTest(configPath, cpu, cli, serveArgs);
  return { proxy, configPath };
}

/** A process and its direct children (nginx's master and workers, the proxy's primary and workers). */
function treeRss(pid: number | undefined): number {
  return [pid, ...childPids(pid)].reduce<number>((n, p) => n + rssOf(p), 0);
}

function treeCpu(pid: number | undefined): number {
  return [pid, ...childPids(pid)].reduce<number>((n, p) => n + cpuSecondsOf(p), 0);
}

function treeSystem(id: SystemId, port: number, pid: number | undefined): System {
  return { id, port, rss: () => treeRss(pid), cpu: () => treeCpu(pid) };
}

/** Replaces the config atomically (as operators are told to), SIGHUPs, waits for the outcome. */
async function reloadOnce(
  target: StartedProxy,
  variantPath: string,
): Promise<{ ms: number; ok: boolean }> {
  await copyFile(variantPath, `${target.configPath}.tmp`);
  await rename(`${target.configPath}.tmp`, target.configPath);
  const outcome = target.proxy.nextReload();
  const t0 = performance.now();
  process.kill(target.proxy.child.pid as number, 'SIGHUP');
  const msg = await outcome;
  return { ms: performance.now() - t0, ok: msg.startsWith('reload applied') };
}

type Load = (
  system: System,
  path: string,
  connections: number,
  seconds: number,
) => ReturnType<typeof runWrk>;

async function writeVariants(target: StartedProxy, configs: readonly string[]): Promise<string[]> {
  return Promise.all(
    configs.map(async (text, i) => {
      const path = `${target.configPath}.variant${i}`;
      await writeFile(path, text);
      return path;
    }),
  );
}

async function reloadUnderLoad(
  target: StartedProxy,
  configs: readonly string[],
  system: System,
  settings: ModeSettings,
  load: Load,
): Promise<Omit<ReloadResult, 'sites'>> {
  const variants = await writeVariants(target, configs);
  const rssBeforeBytes = system.rss();
  const running = load(system, '/2k', 64, settings.reloadSeconds);
  const durations: number[] = [];
  let failedReloads = 0;
  // Stop reloading a little before wrk ends, so every reload happens under load.
  const end = Date.now() + settings.reloadSeconds * 1000 - 300;
  for (let i = 1; Date.now() < end; i++) {
    const started = performance.now();
    const { ms, ok } = await reloadOnce(target, variants[i % 2] as string);
    durations.push(ms);
    if (!ok) failedReloads++;
    await sleep(Math.max(0, 100 - (performance.now() - started)));
  }
  const result = await running;
  return {
    seconds: settings.reloadSeconds,
    reloads: durations.length,
    failedReloads,
    reloadMsMedian: median(durations),
    reloadMsMax: Math.max(...durations),
    rps: result.rps,
    socketErrors: result.socketErrors,
    statusErrors: result.statusErrors,
    rssBeforeBytes,
    rssAfterBytes: system.rss(),
  };
}

/**
 * Reloads back to back on a fresh proxy under 256 connections, sampling RSS after every tenth
 * of them; then a second fresh proxy under the same load for the same time, without reloads.
 * Sustained load with connection churn (wrk restarts its 256 connections every 2 s) moves RSS
 * by itself; the control run says how much of the growth is the load's, not the reloads'.
 */
async function soak256(
  dir: string,
  configs: readonly string[],
  cli: string,
  settings: ModeSettings,
  load: Load,
): Promise<SoakResult> {
  const reloading = await startProxy(dir, 'proxy-soak', configs[0] as string, cli);
  const variants = await writeVariants(reloading, configs);
  const withReloads = await underLoad(reloading, load, async (sample) => {
    const every = Math.max(1, Math.floor(settings.soakReloads / 10));
    for (let i = 1; i <= settings.soakReloads; i++) {
      await reloadOnce(reloading, variants[i % 2] as string);
      if (i % every === 0) sample();
    }
  });
  await stopChild(reloading.proxy.child);
  const control = await startProxy(dir, 'proxy-control', configs[0] as string, cli);
  const alone = await underLoad(control, load, async (sample) => {
    for (let i = 1; i <= 10; i++) {
      await sleep(withReloads.ms / 10);
      sample();
    }
  });
  await stopChild(control.proxy.child);
  return {
    reloads: settings.soakReloads,
    seconds: withReloads.ms / 1000,
    requests: withReloads.requests,
    socketErrors: withReloads.socketErrors,
    statusErrors: withReloads.statusErrors,
    rssSamples: withReloads.rssSamples,
    controlRssSamples: alone.rssSamples,
  };
}

/** Runs `work` while wrk keeps 256 connections busy (in 2 s segments; at most 10 minutes). */
async function underLoad(
  target: StartedProxy,
  load: Load,
  work: (sample: () => void) => Promise<void>,
) {
  const system = systemOf(target);
  let busy = true;
  let requests = 0;
  let socketErrors = 0;
  let statusErrors = 0;
  const loadLoop = (async () => {
    const deadline = Date.now() + 600_000;
    while (busy && Date.now() < deadline) {
      const r = await load(system, '/2k', 256, 2);
      requests += r.requests;
      socketErrors += r.socketErrors;
      statusErrors += r.statusErrors;
    }
  })();
  await sleep(500);
  const rssSamples = [system.rss()];
  const started = performance.now();
  await work(() => rssSamples.push(system.rss()));
  const ms = performance.now() - started;
  busy = false;
  await loadLoop;
  return { ms, requests, socketErrors, statusErrors, rssSamples };
}

function machineInfo(tools: Tools): Record<string, string> {
  // nginx -v and wrk -v print on stderr (and wrk exits 1): read both streams.
  const version = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.split('\n')[0]?.trim() ?? '';
  };
  return {
    kernel: release(),
    node: process.version,
    nginx: version(tools.nginx, ['-v']).replace('nginx version: ', ''),
    wrk: version(tools.wrk, ['-v']).replace(/ Copyright.*/, ''),
    h2load: version(tools.h2load, ['--version']),
    openssl: version(tools.openssl, ['version']),
    cpus: `${execFileSync('nproc', { encoding: 'utf8' }).trim()} (wrk + upstream on CPU ${LOAD_CPU}, proxy under test on CPU ${PROXY_CPU})`,
  };
}

main().catch(async (err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  await stopAll();
  process.exitCode = 1;
});

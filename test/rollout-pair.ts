import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../bench/free-port.ts';
import { request, startProxy, tmpDir } from './helpers.ts';
import type { ProxyProcess } from './helpers.ts';
import { eventually, startSidecarProcess } from './sidecar-process.ts';
import type { SidecarProcess } from './sidecar-process.ts';

/**
 * One pod's worth: a sidecar and the proxy it feeds, each pair with its own socket, config
 * file and health port (the proxy's `--admin-socket` and `--health-address`), so several pairs
 * on one host share one ConfigMap as pods do. Started in the native-sidecar order: the sidecar
 * first, the proxy once the sidecar reports ready (its config file is then in place).
 */
export interface Pair {
  readonly pod: string;
  readonly sidecar: SidecarProcess;
  readonly proxy: ProxyProcess;
  /** Who served `/` (the upstream's first word), per request sent by `drive`. */
  readonly served: string[];
  stop(): Promise<void>;
  /** SIGKILL both processes: a pod that dies without a word. */
  kill(): Promise<void>;
}

export interface PairOptions {
  readonly pod: string;
  /** The sidecar's mode flags (`--configmap ...` or `--watch-dir ...`) and any extra ones. */
  readonly sidecarArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Both get `--endpoints-file` (issue 22): the sidecar delivers EndpointSlices to the proxy. */
  readonly endpoints?: boolean;
}

/** Bake settings small enough for tests: 3 s bakes, 200 ms samples, 20 requests to judge. */
export const TEST_GUARD_FLAGS = [
  '--bake-ms=3000',
  '--baseline-ms=10000',
  '--sample-ms=200',
  '--min-requests=20',
  '--rollout-poll-ms=100',
  '--lease-duration-s=1',
  '--debounce-ms=50',
  '--reload-attempts=100',
];

/**
 * The health port is chosen before the proxy binds it (the sidecar must know it first), so
 * another test's listener can take it in between: then the pair starts again on a new port.
 * Whatever fails, nothing started here is left running.
 */
export async function startPair(options: PairOptions): Promise<Pair> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPairOnce(options);
    } catch (err) {
      if (attempt >= 5 || !String(err).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startPairOnce(options: PairOptions): Promise<Pair> {
  const { dir, cleanup } = await tmpDir(`rp-${options.pod}-`);
  const run = join(dir, 'run');
  await mkdir(run, { mode: 0o700 });
  const socket = join(run, 'admin.sock');
  const configOut = join(run, 'proxy.yaml');
  const healthPort = await freePort();
  const endpointsArgs =
    options.endpoints === true ? [`--endpoints-file=${join(run, 'endpoints.json')}`] : [];
  let sidecar: SidecarProcess | undefined;
  let proxy: ProxyProcess;
  try {
    sidecar = await startSidecarProcess(
      [
        `--socket=${socket}`,
        `--config-out=${configOut}`,
        '--health-address=127.0.0.1:0',
        `--proxy-metrics=http://127.0.0.1:${healthPort}/metrics`,
        ...TEST_GUARD_FLAGS,
        ...endpointsArgs,
        ...options.sidecarArgs,
      ],
      { ...options.env, POD_NAME: options.pod },
    );
    const ready = sidecar;
    await eventually(
      `${options.pod} sidecar ready`,
      async () => ((await request(`${ready.healthUrl}/readyz`)).status === 200 ? true : undefined),
      15_000,
    );
    proxy = await startProxy(configOut, [
      `--admin-socket=${socket}`,
      `--health-address=127.0.0.1:${healthPort}`,
      ...endpointsArgs,
    ]);
  } catch (err) {
    await sidecar?.stop();
    await cleanup();
    throw err;
  }
  const started = sidecar;
  const served: string[] = [];
  let dead = false;
  return {
    pod: options.pod,
    sidecar: started,
    proxy,
    served,
    stop: async () => {
      if (!dead) {
        await started.stop();
        await proxy.stop();
      }
      await cleanup();
    },
    kill: async () => {
      dead = true;
      for (const child of [started.child, proxy.child]) {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          await exited;
        }
      }
    },
  };
}

/**
 * Sends a steady trickle of requests (one per pair every `everyMs`) until stopped, recording
 * who served each: the traffic the bake judges, and the evidence of what each pod served.
 */
export function drive(pairs: () => readonly Pair[], path = '/', everyMs = 10): () => Promise<void> {
  let running = true;
  const loops = new Map<Pair, Promise<void>>();
  const loop = async (pair: Pair) => {
    while (running) {
      try {
        const reply = await request(`${pair.proxy.url}${path}`, { host: 'any.example' });
        pair.served.push(
          reply.status === 200 ? (reply.body.split(' ')[0] ?? '') : String(reply.status),
        );
      } catch {
        // A pair being killed: nothing to record.
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  };
  const timer = setInterval(() => {
    for (const pair of pairs()) if (!loops.has(pair)) loops.set(pair, loop(pair));
  }, 20);
  return async () => {
    running = false;
    clearInterval(timer);
    await Promise.all(loops.values());
  };
}

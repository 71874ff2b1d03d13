import type { Logger } from '../../log.ts';
export { DIRECT_ROLLOUT } from './rollout-types.ts';
export type { Apply, ApplyReason, Candidate, Rollout } from './rollout-types.ts';
import type { Apply, Candidate, Rollout } from './rollout-types.ts';
import type { EventRecorder } from '../events.ts';
import type { SidecarMetrics } from '../sidecar-metrics.ts';
import type { BakeGuard, BakeVerdict } from './bake-guard.ts';
import type { ChangeDescription } from './change-summary.ts';
import type { Figures } from './figures.ts';
import { LastGoodSource } from './last-good-store.ts';
import type { LastGoodStore } from './last-good-store.ts';
import { LeaseConflict, RolledBackElsewhere } from './lease-store.ts';
import type { LeaseStore } from './lease-store.ts';
import { describeRegression } from './regression.ts';

export interface GuardedRolloutOptions {
  readonly guard: BakeGuard;
  /** API mode with coordination: one pod bakes each revision (absent: this pod alone). */
  readonly lease?: LeaseStore | undefined;
  readonly lastGood?: LastGoodStore | undefined;
  readonly pod: string;
  /** How often a waiting pod reads the Lease again. */
  readonly pollMs: number;
  /**
   * The validator every delivery uses: a config read back from the cluster is checked again
   * before it is served (it may predate this version, or have been edited by hand).
   * Returns what is wrong, or undefined.
   */
  readonly validate: (bytes: Buffer) => string | undefined;
  /** One line saying what changed between two configs (the `diff` summary). */
  readonly describeChange: (from: Buffer, to: Buffer) => ChangeDescription;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
}

const short = (sha: string) => sha.slice(0, 12);

/**
 * The guarded rollout (docs/operations.md, "Guarded rollout"). A new revision is applied and
 * baked: the proxy's figures per route since the change are compared with the minutes before
 * it, and a regression puts the last good config back at once. With a Lease, one pod bakes each
 * revision and the others wait for its verdict: they apply it once promoted, never once rolled
 * back, and take over the bake when the baking pod's Lease expires. The last promoted config
 * is kept in the cluster, so a pod that starts while the revision cannot be served boots on it.
 */
export class GuardedRollout implements Rollout {
  readonly #o: GuardedRolloutOptions;
  /** What a regression rolls back to: the last promoted config (or the first one served). */
  #lastGood: Candidate | undefined;
  /** What the proxy serves, as far as this sidecar applied it. */
  #serving: string | undefined;
  readonly #rolledBack = new Set<string>();
  readonly #said = new Set<string>();
  readonly #stopping = new AbortController();
  readonly #stored: LastGoodSource;

  constructor(options: GuardedRolloutOptions) {
    this.#o = options;
    this.#stored = new LastGoodSource(options.lastGood, options.validate, options.log);
  }

  stop(): void {
    this.#stopping.abort();
  }

  async run(config: Candidate, apply: Apply, outer: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([outer, this.#stopping.signal]);
    const tracked: Apply = async (c, s, why) => {
      const ok = await apply(c, s, why);
      if (ok) {
        this.#serving = c.sha256;
        this.#o.metrics.servingLastGood.set(why === 'fallback' ? 1 : 0);
      }
      return ok;
    };
    if (this.#rolledBack.has(config.sha256)) {
      this.#sayOnce(config, 'rolled-back', () =>
        this.#o.log.warn(
          { sha256: config.sha256 },
          'not applying this revision: it was rolled back (change the ConfigMap to try again)',
        ),
      );
      return this.fallback(apply, signal);
    }
    if (this.#o.lease === undefined) return this.#runAlone(config, tracked, signal);
    return this.#runCoordinated(config, tracked, signal, this.#o.lease);
  }

  /** Volume mode, or no Lease: bake on this pod, roll back on this pod. */
  async #runAlone(config: Candidate, apply: Apply, signal: AbortSignal): Promise<void> {
    const lastGood = this.#lastGood;
    if (lastGood === undefined || lastGood.sha256 === config.sha256) {
      // The first config: nothing to compare with or go back to.
      if (await apply(config, signal, 'new')) this.#lastGood = config;
      return;
    }
    await this.#bake(config, lastGood, apply, signal, undefined);
  }

  async #runCoordinated(
    config: Candidate,
    apply: Apply,
    signal: AbortSignal,
    lease: LeaseStore,
  ): Promise<void> {
    const { log, pod, pollMs } = this.#o;
    while (!signal.aborted) {
      let view;
      try {
        view = await lease.read();
      } catch (err) {
        log.error(
          { lease: `${lease.namespace}/${lease.name}`, err: String(err) },
          'cannot read the rollout Lease: baking on this pod alone',
        );
        return this.#runAlone(config, apply, signal);
      }
      const state = view.stateOf(config.sha256);
      if (state === 'promoted') {
        if (await apply(config, signal, 'promoted')) this.#lastGood = config;
        return;
      }
      if (state === 'rolled-back') {
        this.#rolledBack.add(config.sha256);
        this.#sayOnce(config, 'rolled-back', () =>
          log.warn(
            { sha256: config.sha256 },
            'not applying this revision: another pod rolled it back (change the ConfigMap to try again)',
          ),
        );
        return this.fallback(apply, signal);
      }
      if (!view.expired && view.holder !== pod) {
        this.#sayOnce(config, 'held', () => {
          log.info(
            { sha256: config.sha256, baking: view.revision, holder: view.holder },
            'waiting: another pod bakes a revision; this one applies it once promoted',
          );
          this.#o.events.record(
            'Normal',
            'ConfigHeld',
            `config sha256 ${short(config.sha256)} waits: pod ${String(view.holder)} bakes ` +
              `sha256 ${short(view.revision ?? '')}; it is applied here once promoted`,
            config.object,
          );
        });
        await this.fallback(apply, signal);
        await sleep(pollMs, signal);
        continue;
      }
      const lastGood = await this.#clusterLastGood();
      if (lastGood === undefined || lastGood.sha256 === config.sha256) {
        // Nothing promoted yet (a new release): nothing to protect or go back to.
        if (!(await apply(config, signal, 'new'))) return;
        await this.#promote(config, lease, 'the first config of the release');
        return;
      }
      try {
        await lease.acquire(config.sha256, pod);
      } catch (err) {
        if (err instanceof LeaseConflict) continue; // another pod took it first
        log.error({ err: String(err) }, 'cannot take the rollout Lease: baking on this pod alone');
        return this.#bake(config, lastGood, apply, signal, undefined);
      }
      return this.#bake(config, lastGood, apply, signal, lease);
    }
  }

  /** Applies `config`, bakes it, and promotes it or rolls back to `lastGood`. */
  async #bake(
    config: Candidate,
    lastGood: Candidate,
    apply: Apply,
    signal: AbortSignal,
    lease: LeaseStore | undefined,
  ): Promise<void> {
    const { guard, log, events, metrics, pod } = this.#o;
    const { summary: change } = this.#o.describeChange(lastGood.bytes, config.bytes);
    const baseline = (await guard.baseline()) ?? { figures: new Map() as Figures, at: Date.now() };
    if (!(await apply(config, signal, 'new'))) {
      await lease?.finish(config.sha256, pod, 'superseded', 'not applied').catch(() => undefined);
      return;
    }
    const bakeS = Math.round(guard.settings.bakeMs / 1000);
    log.info(
      { sha256: config.sha256, bake_ms: guard.settings.bakeMs, change },
      'baking the new config',
    );
    events.record(
      'Normal',
      'ConfigBaking',
      `config sha256 ${short(config.sha256)} applied on pod ${pod}, baking for ${bakeS} s: ${change}`,
      config.object,
    );
    const renewal =
      lease === undefined ? undefined : this.#keepRenewing(lease, signal, config.sha256);
    let verdict: BakeVerdict;
    try {
      verdict = await guard.bake(baseline, signal);
    } finally {
      clearInterval(renewal);
    }
    metrics.bakes.inc({ result: verdict.kind });
    if (verdict.kind === 'interrupted') {
      await lease
        ?.finish(config.sha256, pod, 'superseded', 'a newer config, or the sidecar stopped')
        .catch(() => undefined);
      return;
    }
    if (verdict.kind === 'clean') {
      try {
        await this.#promote(config, lease, `baked ${bakeS} s, ${verdict.judged} requests judged`);
      } catch (err) {
        if (!(err instanceof RolledBackElsewhere)) throw err;
        this.#rolledBack.add(config.sha256);
        log.warn(
          { sha256: config.sha256, back_to: lastGood.sha256, detail: err.message },
          'not promoting: another pod rolled this revision back; going back to the last good config',
        );
        await apply(lastGood, this.#stopping.signal, 'rollback');
      }
      return;
    }
    const why = describeRegression(verdict.regression);
    this.#rolledBack.add(config.sha256);
    metrics.rollbacks.inc({ figure: verdict.regression.figure });
    log.error(
      { sha256: config.sha256, back_to: lastGood.sha256, regression: verdict.regression, change },
      `config rolled back: ${why}`,
    );
    await apply(lastGood, this.#stopping.signal, 'rollback');
    events.record(
      'Warning',
      'ConfigRolledBack',
      `config sha256 ${short(config.sha256)} rolled back to ${short(lastGood.sha256)}: ${why}; change was: ${change}`,
      config.object,
    );
    await lease
      ?.finish(config.sha256, pod, 'rolled-back', why)
      .catch((err: unknown) =>
        log.error({ err: String(err) }, 'cannot record the rollback on the Lease'),
      );
  }

  /** Records the promotion first (RolledBackElsewhere when the Lease says otherwise), then says so. */
  async #promote(config: Candidate, lease: LeaseStore | undefined, detail: string): Promise<void> {
    const { log, events, pod } = this.#o;
    try {
      await lease?.finish(config.sha256, pod, 'promoted', detail);
    } catch (err) {
      if (err instanceof RolledBackElsewhere) throw err;
      log.error({ err: String(err) }, 'cannot record the promotion on the Lease');
    }
    this.#lastGood = config;
    log.info({ sha256: config.sha256, detail }, 'config promoted');
    events.record(
      'Normal',
      'ConfigPromoted',
      `config sha256 ${short(config.sha256)} promoted (${detail})`,
      config.object,
    );
    await this.#o.lastGood
      ?.write(config, pod)
      .catch((err: unknown) =>
        log.error({ err: String(err) }, 'cannot store the promoted config as the last good one'),
      );
  }

  #keepRenewing(lease: LeaseStore, signal: AbortSignal, sha256: string): NodeJS.Timeout {
    const every = Math.max(200, Math.floor(this.#o.guard.settings.sampleMs));
    const timer = setInterval(() => {
      if (signal.aborted) return;
      lease
        .renew(this.#o.pod)
        .catch((err: unknown) =>
          this.#o.log.warn({ sha256, err: String(err) }, 'cannot renew the rollout Lease'),
        );
    }, every);
    timer.unref();
    return timer;
  }

  async #clusterLastGood(): Promise<Candidate | undefined> {
    this.#lastGood ??= await this.#stored.read();
    return this.#lastGood;
  }

  /** Serves the last good config if nothing serves yet (a pod starting). */
  async fallback(apply: Apply, signal: AbortSignal): Promise<void> {
    if (this.#serving !== undefined) return;
    const lastGood = await this.#clusterLastGood();
    if (lastGood === undefined) return;
    if (!(await apply(lastGood, signal, 'fallback'))) return;
    this.#serving = lastGood.sha256;
    this.#o.metrics.servingLastGood.set(1);
    this.#o.log.warn(
      { sha256: lastGood.sha256 },
      'serving the last good config: the watched revision cannot be served yet',
    );
    this.#o.events.record(
      'Warning',
      'ConfigFallback',
      `pod ${this.#o.pod} started on the last good config sha256 ${short(lastGood.sha256)}: ` +
        'the watched revision is invalid, rolled back, or still baking on another pod',
    );
  }

  #sayOnce(config: Candidate, what: string, say: () => void): void {
    const key = `${what} ${config.sha256}`;
    if (this.#said.has(key)) return;
    this.#said.add(key);
    say();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

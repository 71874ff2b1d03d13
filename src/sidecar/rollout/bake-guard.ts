import type { Logger } from '../../log.ts';
import { deltaFigures } from './figures.ts';
import type { Figures } from './figures.ts';
import { findRegression } from './regression.ts';
import type { Regression, Thresholds } from './regression.ts';

export interface BakeSettings {
  /** How long a new config is watched after the proxy confirmed it. */
  readonly bakeMs: number;
  /** How far back "before the change" reaches. */
  readonly baselineMs: number;
  /** How often the figures are read. */
  readonly sampleMs: number;
  readonly thresholds: Thresholds;
}

export type BakeVerdict =
  | { readonly kind: 'clean'; readonly judged: number }
  | { readonly kind: 'regressed'; readonly regression: Regression }
  /** A newer config or shutdown ended the bake early: no verdict. */
  | { readonly kind: 'interrupted' };

interface Sample {
  readonly at: number;
  readonly figures: Figures;
}

/**
 * Watches the proxy's figures: samples them every `sampleMs` (keeping `baselineMs` of history,
 * so the minutes before a change are known when it comes), and bakes a change: from the moment
 * it was confirmed, every sample compares each route's figures since then with the same route's
 * over the baseline, and the first regression ends the bake. Reading the figures failing (the
 * proxy restarting) skips that sample; it never counts as a regression.
 */
export class BakeGuard {
  readonly #read: (signal: AbortSignal) => Promise<Figures>;
  readonly #settings: BakeSettings;
  readonly #log: Logger;
  readonly #history: Sample[] = [];
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    read: (signal: AbortSignal) => Promise<Figures>,
    settings: BakeSettings,
    log: Logger,
  ) {
    this.#read = read;
    this.#settings = settings;
    this.#log = log;
  }

  get settings(): BakeSettings {
    return this.#settings;
  }

  /** Starts the background sampling that builds the baseline. */
  start(): void {
    const tick = () => {
      void this.#sample().finally(() => {
        if (!this.#stopping.signal.aborted) {
          this.#timer = setTimeout(tick, this.#settings.sampleMs);
          this.#timer.unref();
        }
      });
    };
    tick();
  }

  stop(): void {
    this.#stopping.abort();
    clearTimeout(this.#timer);
  }

  async #sample(): Promise<Sample | undefined> {
    try {
      const figures = await this.#read(this.#stopping.signal);
      const sample = { at: Date.now(), figures };
      this.#history.push(sample);
      const horizon = sample.at - this.#settings.baselineMs - this.#settings.bakeMs;
      while (this.#history.length > 2 && (this.#history[0] as Sample).at < horizon) {
        this.#history.shift();
      }
      return sample;
    } catch (err) {
      this.#log.debug({ err: String(err) }, 'cannot read the proxy figures; sample skipped');
      return undefined;
    }
  }

  /**
   * The route figures over the baseline window before now: the newest sample minus the
   * oldest one within `baselineMs`. Taken right before the new config is applied.
   */
  async baseline(): Promise<{ figures: Figures; at: number } | undefined> {
    const now = await this.#sample();
    if (now === undefined) return undefined;
    const from = this.#history.find((s) => s.at >= now.at - this.#settings.baselineMs) ?? now;
    return { figures: deltaFigures(from.figures, now.figures), at: now.at };
  }

  /** Bakes from now: resolves with the first regression, or clean after `bakeMs`. */
  async bake(
    baseline: { figures: Figures; at: number },
    signal: AbortSignal,
  ): Promise<BakeVerdict> {
    const start = (await this.#sample()) ?? { at: Date.now(), figures: baseline.figures };
    const { bakeMs, sampleMs, thresholds } = this.#settings;
    const end = start.at + bakeMs;
    let judged = 0;
    for (;;) {
      const wait = Math.min(sampleMs, Math.max(0, end - Date.now()));
      const stopped = await sleep(wait, AbortSignal.any([signal, this.#stopping.signal]));
      if (stopped) return { kind: 'interrupted' };
      const sample = await this.#sample();
      if (sample !== undefined) {
        const since = deltaFigures(start.figures, sample.figures);
        const regression = findRegression(baseline.figures, since, thresholds);
        if (regression !== undefined) return { kind: 'regressed', regression };
        judged = [...since.values()].reduce((n, f) => n + f.requests, 0);
      }
      if (Date.now() >= end) return { kind: 'clean', judged };
    }
  }
}

/** Resolves true when aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

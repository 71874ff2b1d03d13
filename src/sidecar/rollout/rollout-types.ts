import type { ConfigMapRef } from '../config-source.ts';

/** A validated config the watcher saw. */
export interface Candidate {
  readonly bytes: Buffer;
  readonly sha256: string;
  readonly object?: ConfigMapRef | undefined;
}

/** Why a config is applied: the delivery's log line and Event say so. */
export type ApplyReason = 'new' | 'promoted' | 'rollback' | 'fallback';

/** Writes, reloads and confirms (ConfigDelivery); true once the proxy confirmed the sha256. */
export type Apply = (config: Candidate, signal: AbortSignal, why: ApplyReason) => Promise<boolean>;

/** What the delivery does with each valid config: apply it, or guard it first. */
export interface Rollout {
  run(config: Candidate, apply: Apply, signal: AbortSignal): Promise<void>;
  /** The watched config cannot be used and nothing serves yet: boot on the last good one. */
  fallback(apply: Apply, signal: AbortSignal): Promise<void>;
  stop(): void;
}

/** No guard: every valid config is applied as it comes (the v1 behaviour, `--guard off`). */
export const DIRECT_ROLLOUT: Rollout = {
  run: async (config, apply, signal) => {
    await apply(config, signal, 'new');
  },
  fallback: async () => undefined,
  stop: () => undefined,
};

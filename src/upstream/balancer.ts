import type { BalanceMode } from '../config/types.ts';
import type { TargetState } from './target-state.ts';

/**
 * Picks the upstream for one attempt among a route's upstreams: the available ones (not
 * ejected, not failing their health check) that this request has not tried yet. When none is
 * available, every upstream not tried yet is a candidate again ("panic", as Envoy calls it):
 * health verdicts can be wrong together (a health endpoint that broke, a network blip), and
 * trying an upstream that may be down serves more than answering 503 to everyone
 * (docs/operations.md, "When every upstream is unhealthy"). When this request has tried them
 * all, the least recently picked one is tried again.
 */
export class Balancer {
  readonly #mode: BalanceMode;
  #cursor = 0;

  constructor(mode: BalanceMode) {
    this.#mode = mode;
  }

  /** `panicked` is told when no upstream was available. */
  pick(
    states: readonly TargetState[],
    now: number,
    tried: readonly TargetState[] | undefined,
    panicked: (now: number) => void,
  ): TargetState {
    if (states.length === 1) return states[0] as TargetState;
    let candidates = states.filter((s) => s.available(now) && tried?.includes(s) !== true);
    if (candidates.length === 0) {
      if (!states.some((s) => s.available(now))) panicked(now);
      candidates = states.filter((s) => tried?.includes(s) !== true);
      if (candidates.length === 0) candidates = [...states];
    }
    if (candidates.length === 1) return candidates[0] as TargetState;
    switch (this.#mode) {
      case 'round_robin':
        return smoothWeighted(candidates);
      case 'least_request':
        return this.#leastRequest(candidates);
      case 'random':
        return weightedRandom(candidates);
    }
  }

  /** Fewest requests in flight per unit of weight; ties go round the list, not to the first. */
  #leastRequest(candidates: readonly TargetState[]): TargetState {
    const n = candidates.length;
    const start = this.#cursor++ % n;
    let best = candidates[start] as TargetState;
    let bestLoad = (best.inFlight + 1) / best.target.weight;
    for (let i = 1; i < n; i++) {
      const c = candidates[(start + i) % n] as TargetState;
      const load = (c.inFlight + 1) / c.target.weight;
      if (load < bestLoad) {
        best = c;
        bestLoad = load;
      }
    }
    return best;
  }
}

/**
 * nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a, not a a a a a b c.
 * Each pick adds every candidate's weight to its running weight, takes the largest, and
 * takes the total off it.
 */
function smoothWeighted(candidates: readonly TargetState[]): TargetState {
  let total = 0;
  let best: TargetState | undefined;
  for (const c of candidates) {
    c.currentWeight += c.target.weight;
    total += c.target.weight;
    if (best === undefined || c.currentWeight > best.currentWeight) best = c;
  }
  const chosen = best as TargetState;
  chosen.currentWeight -= total;
  return chosen;
}

function weightedRandom(candidates: readonly TargetState[]): TargetState {
  let total = 0;
  for (const c of candidates) total += c.target.weight;
  let ticket = Math.random() * total;
  for (const c of candidates) {
    ticket -= c.target.weight;
    if (ticket < 0) return c;
  }
  return candidates[candidates.length - 1] as TargetState;
}

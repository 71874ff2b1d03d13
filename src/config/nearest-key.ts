/**
 * The known key a mistyped one most likely meant, or undefined when none is close. A typo is
 * a letter dropped, added, changed or two swapped (`strip_prefx`, `timeuot_ms`), so the
 * measure is the optimal string alignment distance (Levenshtein plus adjacent swaps, each
 * costing 1). Written here rather than taken from a library: it runs only when a config is
 * already wrong, on a few dozen keys of under 30 characters, and Levenshtein packages
 * (fastest-levenshtein, leven) count a swap as two edits.
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const typed = key.toLowerCase();
  // Short keys tolerate one edit; every three characters more, one more.
  const limit = Math.max(1, Math.floor(typed.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const distance = editDistance(typed, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance, over two rows of the usual table plus the one before. */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (before[j - 2] as number) + 1);
      }
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

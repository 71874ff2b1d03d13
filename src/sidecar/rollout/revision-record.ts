/** Where a revision (a config's sha256) stands in the guarded rollout. */
export type RevisionState = 'baking' | 'promoted' | 'rolled-back' | 'superseded';

export interface RevisionRecord {
  readonly sha256: string;
  readonly state: RevisionState;
  /** The pod that baked it (POD_NAME). */
  readonly pod: string;
  /** ISO time of the last change of state. */
  readonly at: string;
  /** Why: the regression, or what the bake judged. */
  readonly detail?: string | undefined;
}

/** Records kept, newest first: enough for `kubectl describe` to show the recent story. */
export const HISTORY_LENGTH = 20;

export const ANNOTATIONS = {
  revision: 'reverse-proxy.dev/revision',
  state: 'reverse-proxy.dev/state',
  detail: 'reverse-proxy.dev/detail',
  history: 'reverse-proxy.dev/history',
  sha256: 'reverse-proxy.dev/sha256',
  promotedAt: 'reverse-proxy.dev/promoted-at',
  promotedBy: 'reverse-proxy.dev/promoted-by',
} as const;

/** Reads the history annotation; anything unreadable is an empty history, never a crash. */
export function parseHistory(text: string | undefined): RevisionRecord[] {
  if (text === undefined || text === '') return [];
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value)) return [];
    return value.filter(
      (r): r is RevisionRecord =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as RevisionRecord).sha256 === 'string' &&
        typeof (r as RevisionRecord).state === 'string',
    );
  } catch {
    return [];
  }
}

/** The history with `record` first and older records of the same revision dropped. */
export function withRecord(
  history: readonly RevisionRecord[],
  record: RevisionRecord,
): RevisionRecord[] {
  return [record, ...history.filter((r) => r.sha256 !== record.sha256)].slice(0, HISTORY_LENGTH);
}

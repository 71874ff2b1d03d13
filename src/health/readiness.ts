/** What /readyz reports: ready only when every condition holds. */
export interface Readiness {
  /** Names of the conditions that do not hold yet (empty when ready). */
  readonly notReady: () => readonly string[];
}

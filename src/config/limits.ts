/**
 * Caps on hostile or accidental input. They sit far above any sane config (the benchmark's
 * 10,000-site file is ~1 MiB) and far below what would hurt the process.
 */
export const LIMITS = {
  /** Largest config file read, in bytes. */
  maxFileBytes: 16 * 1024 * 1024,
  /** YAML alias expansions allowed while converting the document (alias bombs). */
  maxAliasCount: 100,
  maxSites: 50_000,
  maxHostsPerSite: 1_000,
  maxRoutesPerSite: 1_000,
  maxTotalRoutes: 200_000,
  maxListeners: 32,
  /** Worker processes (`workers`): each costs a whole Node process of memory. */
  maxWorkers: 64,
  maxCertificates: 100,
  maxUpstreamsPerRoute: 64,
  maxPathLength: 1_024,
  /** sun_path holds 108 bytes on Linux including the terminating NUL. */
  maxSocketPathBytes: 107,
} as const;

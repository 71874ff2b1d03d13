import type { RateGrant, RateTake } from '../rate-limit/lease-protocol.ts';
import type { SnapshotData } from './snapshot-transfer.ts';
import type { EndpointsFileData } from '../endpoints/endpoint-file.ts';

/**
 * The IPC between the primary and its workers (child_process.fork, `advanced` serialization).
 * The channel is a socketpair the two processes inherit: nothing else can write to it, which
 * is why the admin socket's checks (seed findings) are not repeated here.
 */

/** Primary to worker. */
export type ToWorker =
  | {
      readonly type: 'start';
      readonly snapshot: SnapshotData;
      readonly workers: number;
      /** The addresses to bind: the config's for the first worker, the bound ones after. */
      readonly addresses: readonly string[];
      /** The endpoint table to start on (`--endpoints-file`, read by the primary). */
      readonly endpoints?: EndpointsFileData | undefined;
    }
  /** An endpoint update, checked by the primary: plain data, no config revision. */
  | { readonly type: 'endpoints'; readonly id: number; readonly data: EndpointsFileData }
  | { readonly type: 'apply'; readonly id: number; readonly snapshot: SnapshotData }
  | { readonly type: 'metrics'; readonly id: number }
  | { readonly type: 'drain' }
  /** Answers to `rate_take` (rate-limit/lease-protocol.ts). */
  | { readonly type: 'rate_grant'; readonly grants: readonly RateGrant[] }
  | { readonly type: 'shutdown'; readonly graceMs: number };

/** Worker to primary. */
export type FromWorker =
  | { readonly type: 'ready'; readonly bound: readonly string[]; readonly generation: number }
  | { readonly type: 'start_failed'; readonly code: string; readonly message: string }
  | { readonly type: 'applied'; readonly id: number; readonly generation: number }
  | { readonly type: 'apply_failed'; readonly id: number; readonly message: string }
  | { readonly type: 'metrics'; readonly id: number; readonly metrics: unknown[] }
  | { readonly type: 'endpoints_applied'; readonly id: number }
  | { readonly type: 'stopped'; readonly outcome: 'drained' | 'forced' }
  /** Token leases asked of the primary's buckets, batched per event-loop turn. */
  | { readonly type: 'rate_take'; readonly takes: readonly RateTake[] };

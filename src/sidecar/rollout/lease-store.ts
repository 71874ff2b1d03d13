import { ApiException, CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { ANNOTATIONS, parseHistory, withRecord } from './revision-record.ts';
import type { RevisionRecord, RevisionState } from './revision-record.ts';

/** The Lease as the rollout reads it. */
export interface LeaseView {
  readonly holder: string | undefined;
  /** The revision the holder bakes (or last baked). */
  readonly revision: string | undefined;
  readonly expired: boolean;
  readonly history: readonly RevisionRecord[];
  /** The newest record of `sha256`, if any. */
  stateOf(sha256: string): RevisionState | undefined;
}

/** Someone else changed the Lease first: read it again and decide again. */
export class LeaseConflict extends Error {}

/** A promotion refused: the Lease already records the revision as rolled back. */
export class RolledBackElsewhere extends Error {}

/**
 * The rollout's Lease (coordination.k8s.io/v1, pre-created by the chart, named after the
 * release): who bakes which revision, until when, and the recent revisions' states in its
 * annotations, where `kubectl describe lease` shows them. Only ever read and replaced, with
 * the resourceVersion it was read at, so two sidecars racing for it cannot both win (RBAC:
 * get and update on this one Lease).
 */
export class LeaseStore {
  readonly #api: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;
  readonly #durationS: number;
  #last: V1Lease | undefined;
  /** Writes run one at a time: two in flight from one read would conflict with each other. */
  #writing: Promise<unknown> = Promise.resolve();

  constructor(kubeConfig: KubeConfig, namespace: string, name: string, durationS: number) {
    this.#api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.namespace = namespace;
    this.name = name;
    this.#durationS = durationS;
  }

  async read(): Promise<LeaseView> {
    const lease = await this.#api.readNamespacedLease({
      name: this.name,
      namespace: this.namespace,
    });
    this.#last = lease;
    return view(lease);
  }

  /** Takes the Lease to bake `sha256`; LeaseConflict when another sidecar changed it first. */
  async acquire(sha256: string, pod: string): Promise<void> {
    await this.#replace((lease, now) => {
      const spec = lease.spec ?? {};
      const transitions = (spec.leaseTransitions ?? 0) + (spec.holderIdentity === pod ? 0 : 1);
      lease.spec = {
        ...spec,
        holderIdentity: pod,
        leaseDurationSeconds: this.#durationS,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: transitions,
      };
      return { sha256, state: 'baking', pod, at: now.toISOString() };
    });
  }

  /**
   * Keeps the Lease while baking. A renewal that finds another write of its own in flight is
   * skipped (the next one comes soon); one that conflicts reads the Lease again and retries
   * once while this pod still holds it.
   */
  async renew(pod: string): Promise<void> {
    // Our own last write let it go (finish ran first): nothing to keep.
    if (this.#busy || (this.#last !== undefined && this.#last.spec?.holderIdentity !== pod)) return;
    const change = (lease: V1Lease, now: V1MicroTime) => {
      if (lease.spec?.holderIdentity !== pod) {
        throw new LeaseConflict('the Lease has another holder');
      }
      lease.spec = { ...lease.spec, renewTime: now };
      return undefined;
    };
    try {
      await this.#replace(change);
    } catch (err) {
      if (!(err instanceof LeaseConflict)) throw err;
      await this.#replace(change);
    }
  }

  /** Records the bake's outcome and lets the Lease go. */
  async finish(sha256: string, pod: string, state: RevisionState, detail: string): Promise<void> {
    const change = (lease: V1Lease, now: V1MicroTime): RevisionRecord => {
      // A rollback is final: a pod whose own bake came out clean (it may have judged fewer
      // requests, or lost the Lease and baked on) never turns it into a promotion.
      const recorded = parseHistory(lease.metadata?.annotations?.[ANNOTATIONS.history]).find(
        (r) => r.sha256 === sha256,
      );
      if (state === 'promoted' && recorded?.state === 'rolled-back') {
        throw new RolledBackElsewhere(
          `${recorded.pod} rolled this revision back: ${recorded.detail ?? ''}`,
        );
      }
      // Let go only of our own hold: after an expiry another pod may hold it by now.
      if (lease.spec?.holderIdentity === pod) {
        lease.spec = { ...lease.spec, holderIdentity: undefined, renewTime: now };
      }
      return { sha256, state, pod, at: now.toISOString(), detail };
    };
    // The outcome must be recorded: the other pods decide by it. A conflict reads again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#replace(change);
      } catch (err) {
        if (!(err instanceof LeaseConflict) || attempt >= 5) throw err;
      }
    }
  }

  #busy = false;

  #replace(
    change: (lease: V1Lease, now: V1MicroTime) => RevisionRecord | undefined,
  ): Promise<void> {
    const run = this.#writing.then(async () => {
      this.#busy = true;
      try {
        await this.#replaceNow(change);
      } finally {
        this.#busy = false;
      }
    });
    this.#writing = run.catch(() => undefined);
    return run;
  }

  async #replaceNow(
    change: (lease: V1Lease, now: V1MicroTime) => RevisionRecord | undefined,
  ): Promise<void> {
    const lease = structuredClone(this.#last ?? (await this.#readRaw()));
    // MicroTime: the API server refuses a time without exactly six fractional digits, which a
    // plain Date would send (kubernetes-client/javascript#828). Made after the clone, which
    // would turn it back into a plain Date.
    const now = new V1MicroTime();
    const record = change(lease, now);
    if (record !== undefined) {
      const annotations = { ...(lease.metadata?.annotations ?? {}) };
      annotations[ANNOTATIONS.revision] = record.sha256;
      annotations[ANNOTATIONS.state] = record.state;
      annotations[ANNOTATIONS.detail] = record.detail ?? '';
      annotations[ANNOTATIONS.history] = JSON.stringify(
        withRecord(parseHistory(annotations[ANNOTATIONS.history]), record),
      );
      lease.metadata = { ...lease.metadata, annotations };
    }
    try {
      this.#last = await this.#api.replaceNamespacedLease({
        name: this.name,
        namespace: this.namespace,
        body: lease,
      });
    } catch (err) {
      this.#last = undefined;
      if (err instanceof ApiException && err.code === 409) {
        throw new LeaseConflict('the Lease changed since it was read');
      }
      throw err;
    }
  }

  async #readRaw(): Promise<V1Lease> {
    return this.#api.readNamespacedLease({ name: this.name, namespace: this.namespace });
  }
}

function view(lease: V1Lease): LeaseView {
  const annotations = lease.metadata?.annotations ?? {};
  const history = parseHistory(annotations[ANNOTATIONS.history]);
  const spec = lease.spec ?? {};
  const renewed = spec.renewTime === undefined ? 0 : new Date(spec.renewTime).getTime();
  const expired =
    spec.holderIdentity === undefined ||
    renewed + (spec.leaseDurationSeconds ?? 0) * 1000 < Date.now();
  return {
    holder: spec.holderIdentity ?? undefined,
    revision: annotations[ANNOTATIONS.revision],
    expired,
    history,
    stateOf: (sha256) => history.find((r) => r.sha256 === sha256)?.state,
  };
}

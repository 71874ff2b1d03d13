import { ENDPOINTS_COMMAND, sendAdminCommand } from '../admin/admin-client.ts';
import { isProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay } from './backoff.ts';
import { aggregate } from './endpoint-aggregation.ts';
import type { ServiceEntry, SliceLike } from './endpoint-aggregation.ts';
import { endpointsDocument, writeEndpointsFile } from './endpoints-file.ts';
import type { EventRecorder } from './events.ts';
import { RELOAD_BACKOFF } from './reload-trigger.ts';
import type { AdminTarget } from './reload-trigger.ts';
import type { ServiceRef } from './service-refs.ts';
import { countConditions } from '../endpoints/endpoint-file.ts';
import type { SidecarMetrics } from './sidecar-metrics.ts';

export interface EndpointsUpdaterOptions {
  readonly path: string;
  /** Slice changes within this window from the first one go out as one update. */
  readonly debounceMs: number;
  readonly target: AdminTarget;
  readonly slices: () => ReadonlyMap<string, readonly SliceLike[]>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly send?: typeof sendAdminCommand;
  readonly write?: (path: string, bytes: Uint8Array) => Promise<void>;
}

type Outcome = 'sent' | 'unchanged' | 'rejected' | 'unreachable' | 'write_failed';

/**
 * Turns the watched slices into --endpoints-file and the `endpoints` admin command. Bursts of
 * slice events are debounced into one update; never more than one update is in flight, and a
 * change that arrives meanwhile is delivered right after it (coalesced with any others). An
 * update that changes nothing the proxy uses sends nothing. Endpoint churn is not a config
 * revision: no bake, no rollback, no ConfigApplied Event; only problems are posted, once each.
 */
export class EndpointsUpdater {
  readonly #options: EndpointsUpdaterOptions;
  /** Undefined until the first config: nothing is written before one names its Services. */
  #refs: readonly ServiceRef[] | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retries = 0;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  /** When the oldest change not yet applied by the proxy happened. */
  #changedAt: number | undefined;
  /** The services part of the last document the proxy applied. */
  #applied: string | undefined;
  #problems = new Set<string>();

  constructor(options: EndpointsUpdaterOptions) {
    this.#options = options;
  }

  /** The (service, port) pairs the config in force names. */
  setRefs(refs: readonly ServiceRef[]): void {
    this.#refs = refs;
  }

  /** The slices changed: an update goes out after the debounce window. */
  changed(): void {
    if (this.#stopped || this.#refs === undefined) return;
    this.#changedAt ??= Date.now();
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.#kick();
    }, this.#options.debounceMs);
  }

  /** Writes and sends now (after the update in flight): a new config is about to need them. */
  async flushNow(): Promise<void> {
    if (this.#refs === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#changedAt ??= Date.now();
    await this.#kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#retryTimer);
    await this.#running;
  }

  #kick(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#updateOnce();
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #updateOnce(): Promise<void> {
    if (this.#stopped) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const { metrics } = this.#options;
    const since = this.#changedAt ?? Date.now();
    this.#changedAt = undefined;
    const services = aggregate(this.#refs ?? [], this.#options.slices());
    this.#report(services);
    const key = JSON.stringify(services);
    let outcome: Outcome;
    if (key === this.#applied) outcome = 'unchanged';
    else outcome = await this.#writeAndSend(services);
    metrics.endpointUpdates.inc({ outcome });
    if (outcome === 'sent') {
      this.#applied = key;
      this.#retries = 0;
      metrics.endpointsLastUpdate.set(Date.now() / 1000);
      metrics.endpointUpdateSeconds.observe((Date.now() - since) / 1000);
    } else if (outcome === 'unreachable' || outcome === 'write_failed') {
      // The file (if written) is what a starting proxy loads; a running one is told again.
      const delay = backoffDelay(this.#retries++, RELOAD_BACKOFF);
      this.#changedAt ??= since;
      this.#retryTimer = setTimeout(() => void this.#kick(), delay);
    }
  }

  async #writeAndSend(services: readonly ServiceEntry[]): Promise<Outcome> {
    const { path, target, log } = this.#options;
    const send = this.#options.send ?? sendAdminCommand;
    const endpoints = services.reduce((n, s) => n + s.endpoints.length, 0);
    try {
      await writeEndpointsFile(path, endpointsDocument(services, new Date()), this.#options.write);
    } catch (err) {
      log.error(
        { code: 'ERR_ENDPOINTS_WRITE', path, err: String(err) },
        'cannot write the endpoints file; retrying',
      );
      return 'write_failed';
    }
    try {
      const reply = await send({ ...target, command: ENDPOINTS_COMMAND });
      if (reply.status === 'ok') {
        log.debug({ services: services.length, endpoints, reply }, 'endpoints applied');
        return 'sent';
      }
      log.error(
        { code: 'ERR_ENDPOINTS_REJECTED', path, message: reply.message },
        'the proxy refused the endpoints file; it keeps its previous endpoints, its log says why',
      );
      return 'rejected';
    } catch (err) {
      if (!isProxyError(err)) throw err;
      const untrusted = err.code === 'ERR_ADMIN_SERVER_UNTRUSTED';
      log.warn(
        { code: err.code, path, err: err.message },
        untrusted
          ? 'endpoints written; not telling an untrusted socket'
          : 'endpoints written; the proxy did not answer (it loads the file when it starts); retrying',
      );
      return untrusted ? 'rejected' : 'unreachable';
    }
  }

  /** Metrics for every entry; a log line and an Event for a (service, port) when its problem first appears. */
  #report(services: readonly ServiceEntry[]): void {
    const { metrics, log, events } = this.#options;
    metrics.serviceEndpoints.reset();
    const current = new Set<string>();
    for (const entry of services) {
      const port = String(entry.port);
      const counts = countConditions(entry.endpoints);
      for (const condition of ['ready', 'serving', 'terminating'] as const) {
        metrics.serviceEndpoints.set(
          { service: entry.service, port, condition },
          counts[condition],
        );
      }
      if (entry.problem === null) continue;
      // Once while the problem lasts: its text lists the ports the endpoints have, which moves
      // with every pod that rolls, and an Event per pod would bury the one that matters.
      const key = `${entry.service}\u0000${port}`;
      current.add(key);
      if (this.#problems.has(key)) continue;
      log.warn(
        {
          code: 'ERR_ENDPOINTS_PROBLEM',
          service: entry.service,
          port: entry.port,
          problem: entry.problem,
        },
        `service "${entry.service}" port ${port}: ${entry.problem}; the routes using it get no endpoints from it`,
      );
      events.record(
        'Warning',
        'EndpointsProblem',
        `upstream service "${entry.service}" port ${port}: ${entry.problem}`,
      );
    }
    for (const key of this.#problems) {
      if (current.has(key)) continue;
      const [service, port] = key.split('\u0000');
      log.info({ service, port }, 'endpoints problem resolved');
    }
    this.#problems = current;
    metrics.endpointProblems.set(current.size);
  }
}

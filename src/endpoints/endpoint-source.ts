import type { Logger } from '../log.ts';
import { errorLogFields, isProxyError } from '../errors.ts';
import { EndpointsFileError, readEndpointsFile } from './endpoint-file.ts';
import type { EndpointsFileData } from './endpoint-file.ts';
import type { EndpointMetrics } from './endpoint-metrics.ts';

/** What an applied update reports (the admin reply's fields). */
export interface EndpointsApplied {
  readonly services: number;
  readonly endpoints: number;
  readonly generated_at: string;
}

/**
 * `--endpoints-file` as the proxy runs it: read and checked once per update in this process
 * (the single one, or the primary), then handed to whatever serves as plain data. Updates run
 * one at a time in arrival order, so two `endpoints` commands never interleave their applies.
 * A failed read leaves the previous endpoints serving, and says why in the log.
 */
export class EndpointSource {
  readonly path: string;
  readonly #log: Logger;
  readonly #metrics: EndpointMetrics;
  #apply: ((data: EndpointsFileData) => Promise<void>) | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #current: EndpointsFileData | undefined;
  #problems = new Set<string>();

  constructor(path: string, log: Logger, metrics: EndpointMetrics) {
    this.path = path;
    this.#log = log;
    this.#metrics = metrics;
  }

  /** The data of the last accepted file (undefined: none yet). */
  get current(): EndpointsFileData | undefined {
    return this.#current;
  }

  /**
   * The file as it is at start: a missing file is no error (nothing was delivered yet), an
   * invalid one is logged and counted, and the proxy starts without endpoints rather than not
   * at all (the next update repairs it; a proxy that will not start cannot be repaired so).
   */
  async initial(): Promise<EndpointsFileData | undefined> {
    try {
      const data = await readEndpointsFile(this.path);
      if (data === undefined) {
        this.#log.info(
          { endpoints_file: this.path },
          'endpoints file absent: service routes have no endpoints until the first update',
        );
        return undefined;
      }
      this.#accepted(data, 'start');
      return data;
    } catch (err) {
      this.#refused(err, 'start');
      return undefined;
    }
  }

  /** Where updates go from now on (the data path, or the workers). */
  serveTo(apply: (data: EndpointsFileData) => Promise<void>): void {
    this.#apply = apply;
  }

  /** Re-reads the file and applies it; throws (after logging) when it is missing or invalid. */
  update(trigger: string): Promise<EndpointsApplied> {
    const run = this.#queue.then(() => this.#update(trigger));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #update(trigger: string): Promise<EndpointsApplied> {
    let data: EndpointsFileData | undefined;
    try {
      data = await readEndpointsFile(this.path);
      if (data === undefined) throw new EndpointsFileError(this.path, 'does not exist');
    } catch (err) {
      this.#refused(err, trigger);
      throw err;
    }
    const started = performance.now();
    await this.#apply?.(data);
    return this.#accepted(data, trigger, performance.now() - started);
  }

  #accepted(data: EndpointsFileData, trigger: string, applyMs?: number): EndpointsApplied {
    this.#current = data;
    this.#metrics.applied(data);
    const endpoints = data.services.reduce((n, s) => n + s.endpoints.length, 0);
    // A problem is logged when it appears or changes, not with every update while it lasts.
    const problems = data.services
      .filter((s) => s.problem !== null)
      .map((s) => `${s.service}:${String(s.port)}: ${s.problem}`);
    const known = this.#problems;
    this.#problems = new Set(problems);
    const fresh = problems.filter((p) => !known.has(p));
    this.#log.info(
      {
        trigger,
        services: data.services.length,
        endpoints,
        generated_at: data.generated_at,
        ...(applyMs === undefined ? {} : { apply_ms: Math.round(applyMs * 10) / 10 }),
        ...(fresh.length === 0 ? {} : { problems: fresh }),
      },
      'endpoints applied',
    );
    return { services: data.services.length, endpoints, generated_at: data.generated_at };
  }

  #refused(err: unknown, trigger: string): void {
    this.#metrics.failed();
    // The reason in one line, never a stack: a bad file is an operator's problem, not a bug.
    const fields = isProxyError(err) ? errorLogFields(err) : { err: String(err) };
    this.#log.error(
      { trigger, endpoints_file: this.path, ...fields },
      'endpoints file unreadable or invalid: the previous endpoints stay',
    );
  }
}

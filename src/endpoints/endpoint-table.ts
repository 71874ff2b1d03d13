import { compileTarget } from '../routing/route.ts';
import type { UpstreamTarget } from '../routing/route.ts';
import { countConditions } from './endpoint-file.ts';
import type { EndpointsFileData, ServiceEndpointsData } from './endpoint-file.ts';

/** One (service, port) as the data path uses it: the endpoints that take new requests. */
export interface ServiceEndpoints {
  readonly service: string;
  readonly port: string;
  /** Ready endpoints; when none is ready, the serving + terminating ones (as kube-proxy does). */
  readonly addresses: readonly string[];
  /** Each address's target, weight 1 (the route scales it: upstream/service-targets.ts). */
  readonly targets: readonly UpstreamTarget[];
  /** What the selection was made from, to tell a changed entry from an unchanged one. */
  readonly signature: string;
  readonly ready: number;
  readonly serving: number;
  readonly terminating: number;
  readonly problem: string | null;
}

/**
 * The endpoints of every (service, port) the last accepted file listed, one immutable table per
 * update: a process swaps its reference whole (upstream-registry.ts), never edits it.
 */
export class EndpointTable {
  readonly generatedAt: string;
  readonly #entries: ReadonlyMap<string, ServiceEndpoints>;
  readonly endpointCount: number;
  /** Every target by URL, for the next table to reuse (parsing 5,000 URLs is most of a build). */
  readonly #targets = new Map<string, UpstreamTarget>();

  /** `previous`: the table this one replaces, whose targets are reused where they stay. */
  constructor(data: EndpointsFileData | undefined, previous?: EndpointTable) {
    this.generatedAt = data?.generated_at ?? '';
    const entries = new Map<string, ServiceEndpoints>();
    const reuse = previous === undefined ? undefined : previous.#targets;
    const targetOf = (url: string) => {
      let target = this.#targets.get(url) ?? reuse?.get(url);
      if (target === undefined) target = compileTarget(url, 1);
      this.#targets.set(url, target);
      return target;
    };
    let count = 0;
    for (const s of data?.services ?? []) {
      const port = String(s.port);
      entries.set(`${s.service}\0${port}`, select(s, port, targetOf));
      count += s.endpoints.length;
    }
    this.#entries = entries;
    this.endpointCount = count;
  }

  get(key: string): ServiceEndpoints | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  entries(): IterableIterator<ServiceEndpoints> {
    return this.#entries.values();
  }
}

function select(
  s: ServiceEndpointsData,
  port: string,
  targetOf: (url: string) => UpstreamTarget,
): ServiceEndpoints {
  const { ready, serving, terminating } = countConditions(s.endpoints);
  // Terminating endpoints finish what they have; they take new requests only when nothing
  // ready is left (kube-proxy's fallback), which keeps a Service whose pods all roll answering.
  const chosen =
    ready > 0
      ? s.endpoints.filter((e) => e.ready)
      : s.endpoints.filter((e) => e.serving && e.terminating);
  const addresses = chosen.map((e) => `${e.address}\0${e.port}`).sort();
  const targets = chosen.map((e) =>
    // Through URL: an IPv6 address gets its one spelling (`FD00:0::2` is `[fd00::2]`), so a
    // pod keeps its pool and health state whoever wrote the file.
    targetOf(
      new URL(`http://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`).origin,
    ),
  );
  return {
    service: s.service,
    port,
    addresses,
    targets,
    signature: addresses.join(','),
    ready,
    serving,
    terminating,
    problem: s.problem,
  };
}

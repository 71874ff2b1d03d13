import { OriginPool } from './origin-pool.ts';
import type { PoolFigures, PoolLimits } from './origin-pool.ts';

/**
 * Keep-alive upstream connections for the whole proxy: one OriginPool per origin, shared by
 * every route (and every health probe) that names it, so `upstream_pool.max_connections` is a
 * cap per origin whatever the number of routes. Pools live as long as the process: an origin a
 * reload removed keeps its idle connections only until their idle timeout closes them.
 */
export class UpstreamClient {
  readonly #pools = new Map<string, OriginPool>();
  readonly #limits: PoolLimits;
  /** Origins an endpoint update left unused: their pools go once nothing is open or waiting. */
  readonly #retired = new Set<string>();

  constructor(limits: PoolLimits) {
    this.#limits = limits;
  }

  pool(origin: string): OriginPool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new OriginPool(origin, this.#limits);
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /**
   * Origins no route uses any more (endpoints that left): their idle connections close now, and
   * their pools are forgotten once empty, so pod churn does not grow the map for ever.
   */
  retire(origins: Iterable<string>): void {
    for (const origin of origins) {
      const pool = this.#pools.get(origin);
      if (pool === undefined) continue;
      pool.closeIdle();
      this.#retired.add(origin);
    }
    this.#sweep();
  }

  #sweep(): void {
    for (const origin of this.#retired) {
      const pool = this.#pools.get(origin);
      const f = pool?.figures();
      if (f !== undefined && (f.connected > 0 || f.inFlight > 0)) continue;
      this.#retired.delete(origin);
      this.#pools.delete(origin);
    }
  }

  figures(): PoolFigures[] {
    if (this.#retired.size > 0) this.#sweep();
    return [...this.#pools.values()].map((pool) => pool.figures());
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.close();
  }
}

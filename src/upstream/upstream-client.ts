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

  figures(): PoolFigures[] {
    return [...this.#pools.values()].map((pool) => pool.figures());
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.close();
  }
}

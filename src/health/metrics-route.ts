import type { Express } from 'express';
import type { Registry } from 'prom-client';

/** What /metrics serves: a registry, or the primary's merge of its workers' registries. */
export type MetricsSource = Pick<Registry, 'contentType' | 'metrics'>;

/**
 * `/metrics` for a registry, then a JSON 404 for everything else: the tail of both the
 * proxy's and the sidecar's management apps.
 */
export function mountMetricsAndNotFound(app: Express, registry: MetricsSource): void {
  app.get('/metrics', async (_req, res, next) => {
    try {
      const body = await registry.metrics();
      res.type(registry.contentType).send(body);
    } catch (err) {
      next(err);
    }
  });
  app.use((_req, res) => {
    res.status(404).json({ status: 'not_found' });
  });
}

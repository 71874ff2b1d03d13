import express from 'express';
import type { Express } from 'express';
import type { Registry } from 'prom-client';
import { mountMetricsAndNotFound } from '../health/metrics-route.ts';

export interface SidecarHealthDeps {
  /** Why the sidecar is not alive (empty: alive). */
  readonly notLive: () => readonly string[];
  /** Why the sidecar is not ready (empty: ready). */
  readonly notReady: () => readonly string[];
  readonly registry: Registry;
}

/**
 * /livez, /readyz, /metrics for the sidecar. The proxy's health app has an unconditional
 * /livez; the sidecar's can fail (watch loop silent for too long), so it gets its own small app.
 * Building it never listens.
 */
export function buildSidecarHealthApp({ notLive, notReady, registry }: SidecarHealthDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const probe =
    (reasons: () => readonly string[]): express.RequestHandler =>
    (_req, res) => {
      const found = reasons();
      if (found.length === 0) res.json({ status: 'ok' });
      else res.status(503).json({ status: 'unavailable', reasons: found });
    };
  app.get('/livez', probe(notLive));
  app.get('/readyz', probe(notReady));
  mountMetricsAndNotFound(app, registry);
  return app;
}

import express from 'express';
import type { Express } from 'express';
import { mountMetricsAndNotFound } from './metrics-route.ts';
import type { MetricsSource } from './metrics-route.ts';
import type { Readiness } from './readiness.ts';

export interface HealthAppDeps {
  readonly readiness: Readiness;
  readonly registry: MetricsSource;
}

/**
 * The management endpoints. Express is fine here: this listener serves probes and scrapes,
 * not traffic. Building the app never listens (main owns that).
 */
export function buildHealthApp({ readiness, registry }: HealthAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/livez', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const reasons = readiness.notReady();
    if (reasons.length === 0) res.json({ status: 'ok' });
    else res.status(503).json({ status: 'unavailable', reasons });
  });
  // The seed's original endpoint: 200 with an empty body, kept for existing checks.
  app.get('/health', (_req, res) => {
    res.status(200).end();
  });
  mountMetricsAndNotFound(app, registry);
  return app;
}

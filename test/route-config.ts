import { routeSchema } from '../src/config/route-schema.ts';
import type { RouteConfig } from '../src/config/types.ts';

/** A route as the schema returns it (defaults applied) from the keys a test cares about. */
export function routeConfig(keys: Record<string, unknown>): RouteConfig {
  const { value, error } = routeSchema.validate(keys);
  if (error !== undefined) throw error;
  return value as RouteConfig;
}

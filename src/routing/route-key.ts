import type { ConditionsConfig } from './route-conditions.ts';

interface KeyedRoute extends ConditionsConfig {
  readonly path: string;
  readonly path_match?: 'prefix' | 'exact' | 'regex' | undefined;
}

/**
 * The name a route goes by in metrics (`route` label), the access log, `diff` and errors, and
 * what makes two routes of a site the same route. A plain prefix route is its path, as it was
 * before routes had match kinds and conditions; the others say them, in nginx's notation for
 * the match (`= /healthz`, `~ ^/users/([0-9]+)$`) and in a canonical order for the conditions
 * (`/api [GET,HEAD] [x-canary: 1] [?v=2]`), so that two spellings of one route compare equal.
 */
export function routeKey(route: KeyedRoute): string {
  const match = route.path_match ?? 'prefix';
  let key = match === 'prefix' ? route.path : `${match === 'exact' ? '=' : '~'} ${route.path}`;
  if (route.methods !== undefined) key += ` [${[...route.methods].sort().join(',')}]`;
  const headers = Object.entries(route.headers ?? {})
    .map(([name, value]) => `${name.toLowerCase()}: ${value}`)
    .sort();
  if (headers.length > 0) key += ` [${headers.join('; ')}]`;
  const query = Object.entries(route.query ?? {})
    .map(([name, value]) => `${name}=${value}`)
    .sort();
  if (query.length > 0) key += ` [?${query.join('&')}]`;
  return key;
}

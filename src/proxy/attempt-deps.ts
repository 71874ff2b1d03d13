import type { UpstreamClient } from '../upstream/upstream-client.ts';
import type { UpstreamRegistry } from '../upstream/upstream-registry.ts';

/** The long-lived owners an exchange's attempts use: connections, and what is known of upstreams. */
export interface AttemptDeps {
  readonly client: UpstreamClient;
  readonly registry: UpstreamRegistry;
}

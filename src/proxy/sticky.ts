import { pinnedIndex } from '../routing/affinity.ts';
import type { Affinity } from '../routing/affinity.ts';
import type { TargetState } from '../upstream/target-state.ts';
import type { RouteRuntime, UpstreamRegistry } from '../upstream/upstream-registry.ts';
import { protoOf } from './request-route.ts';
import type { ClientRequest } from './client-side.ts';

/**
 * One request's side of `affinity` (routing/affinity.ts): the upstream its cookie pins it to,
 * taken while that upstream is available; and, when another one answers (no cookie, an
 * unknown value, the pinned one ejected, unhealthy or failing this attempt), the Set-Cookie
 * that pins the client to the one that answered. A client already on its upstream gets no
 * Set-Cookie: the cookie it holds is right, and writing it again would cost every response.
 */
export class Sticky {
  readonly #affinity: Affinity;
  /** The URL the request's cookie names, or undefined. */
  readonly #pinned: string | undefined;
  readonly #secure: boolean;

  constructor(affinity: Affinity, req: ClientRequest) {
    this.#affinity = affinity;
    const index = pinnedIndex(affinity, req.rawHeaders);
    this.#pinned = index < 0 ? undefined : affinity.urls[index];
    this.#secure = protoOf(req.socket) === 'https';
  }

  /**
   * The pinned upstream when it is available (its weight and the balancer do not matter for
   * this client), else the balancer's pick. A pinned upstream only failing its passive or
   * active health is left, as HAProxy's `option redispatch` and Traefik leave it: sticking to
   * it would turn every request of the client into an error. Upstreams are named by URL, not
   * by position: a service route's list changes with its endpoints (upstream-registry.ts).
   */
  pick(registry: UpstreamRegistry, runtime: RouteRuntime): TargetState {
    const pinned =
      this.#pinned === undefined ? undefined : find(runtime, this.#affinity, this.#pinned);
    return pinned?.available(Date.now()) === true ? pinned : registry.pick(runtime);
  }

  /** The Set-Cookie value for a response from `state`, or undefined when none is needed. */
  cookieFor(_runtime: RouteRuntime, state: TargetState): string | undefined {
    const url = state.target.url;
    if (url === this.#pinned) return undefined;
    const index = this.#affinity.byUrl.get(url);
    if (index === undefined) return undefined;
    return (this.#secure ? this.#affinity.setCookieSecure : this.#affinity.setCookie)[index];
  }

  /** Adds the Set-Cookie (if any) to a response's headers, beside the upstream's own. */
  stamp(
    headers: Record<string, string | string[] | number | undefined>,
    runtime: RouteRuntime,
    state: TargetState,
  ): void {
    const cookie = this.cookieFor(runtime, state);
    if (cookie === undefined) return;
    const theirs = headers['set-cookie'];
    if (theirs === undefined) headers['set-cookie'] = cookie;
    else headers['set-cookie'] = [...(Array.isArray(theirs) ? theirs : [String(theirs)]), cookie];
  }
}

/** The runtime's state for `url`: at the affinity's index when the lists agree (always, for URL upstreams). */
function find(runtime: RouteRuntime, affinity: Affinity, url: string): TargetState | undefined {
  const at = runtime.states[affinity.byUrl.get(url) ?? -1];
  if (at?.target.url === url) return at;
  return runtime.states.find((s) => s.target.url === url);
}

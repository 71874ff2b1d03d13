import type { TLSSocket } from 'node:tls';
import { pinnedIndex } from '../routing/affinity.ts';
import type { Affinity } from '../routing/affinity.ts';
import type { TargetState } from '../upstream/target-state.ts';
import type { RouteRuntime, UpstreamRegistry } from '../upstream/upstream-registry.ts';
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
  readonly #pinned: number;
  readonly #secure: boolean;

  constructor(affinity: Affinity, req: ClientRequest) {
    this.#affinity = affinity;
    this.#pinned = pinnedIndex(affinity, req.rawHeaders);
    this.#secure = (req.socket as TLSSocket).encrypted === true;
  }

  /**
   * The pinned upstream when it is available (its weight and the balancer do not matter for
   * this client), else the balancer's pick. A pinned upstream only failing its passive or
   * active health is left, as HAProxy's `option redispatch` and Traefik leave it: sticking to
   * it would turn every request of the client into an error.
   */
  pick(registry: UpstreamRegistry, runtime: RouteRuntime): TargetState {
    const pinned = this.#pinned < 0 ? undefined : runtime.states[this.#pinned];
    return pinned?.available(Date.now()) === true ? pinned : registry.pick(runtime);
  }

  /** The Set-Cookie value for a response from `state`, or undefined when none is needed. */
  cookieFor(runtime: RouteRuntime, state: TargetState): string | undefined {
    if (runtime.states[this.#pinned] === state) return undefined;
    const index = runtime.states.indexOf(state);
    if (index < 0) return undefined;
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

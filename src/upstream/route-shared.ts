import type { Route } from '../routing/route.ts';
import { Balancer } from './balancer.ts';
import { RetryBudget } from './retry-budget.ts';

/** What one route keeps across reloads that recompile it: its budget, balancer and panics. */
export class RouteShared {
  readonly site: string;
  readonly route: string;
  readonly budget = new RetryBudget();
  balancer: Balancer;
  mode: string;
  panics = 0;
  lastPanicLog = 0;

  constructor(route: Route) {
    this.site = route.site;
    this.route = route.path;
    this.balancer = new Balancer(route.balance);
    this.mode = route.balance;
  }

  /** A reload that recompiled the route: a changed `balance` gets a fresh balancer. */
  follow(route: Route): void {
    if (this.mode === route.balance) return;
    this.balancer = new Balancer(route.balance);
    this.mode = route.balance;
  }
}

import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

/**
 * An undici Pool that hands each request to the connected client idle longest, not the first
 * free one. undici's Pool scans its clients in order and takes the first that can take a
 * request, so after a burst opened a dozen connections, sequential requests all ride the
 * first: behind a Kubernetes Service VIP that sends every low-rate request to one pod
 * (kube-proxy balances connections, not requests). Here the scan looks at connected clients
 * first and moves the chosen one to the end of the list, so every pooled connection, and every
 * pod behind the VIP, gets its share; only when none is free does undici's own choice run
 * (a spare client it created, or a new one). Spares stay unconnected until really needed.
 *
 * undici keeps the client list, the chooser and the flags behind module-private symbols; they
 * are found by their descriptions, and `rotationAvailable` (checked by a unit test) fails if an
 * undici upgrade renames them. Without them the pool is undici's plain one.
 */
const symbolOf = (target: object, description: string) =>
  Object.getOwnPropertySymbols(target).find((s) => s.description === description);
const GET_DISPATCHER = symbolOf(Pool.prototype, 'get dispatcher');
const CONNECTED = symbolOf(Object.getPrototypeOf(Pool.prototype) as object, 'connected');

type Chooser = () => Dispatcher | undefined;
type Flags = Record<symbol, boolean | undefined>;

let found: { clients: symbol; needDrain: symbol } | undefined;

export class RotatingPool extends Pool {
  constructor(origin: string | URL, options: Pool.Options) {
    super(origin, options);
    found ??= instanceSymbols(this);
    if (GET_DISPATCHER === undefined || CONNECTED === undefined || found === undefined) return;
    const { clients: clientsKey, needDrain } = found;
    const connected = CONNECTED;
    const self = this as unknown as Record<symbol, unknown>;
    const choose = (self[GET_DISPATCHER] as Chooser).bind(this);
    const clients = self[clientsKey] as (Dispatcher & Flags)[];
    self[GET_DISPATCHER] = () => {
      for (let i = 0; i < clients.length; i++) {
        const client = clients[i] as Dispatcher & Flags;
        if (client[needDrain] === true || client[connected] !== true) continue;
        if (i !== clients.length - 1) {
          clients.splice(i, 1);
          clients.push(client);
        }
        return client;
      }
      return choose();
    };
  }
}

function instanceSymbols(pool: Pool): { clients: symbol; needDrain: symbol } | undefined {
  const clients = symbolOf(pool, 'clients');
  const needDrain = symbolOf(pool, 'needDrain');
  return clients === undefined || needDrain === undefined ? undefined : { clients, needDrain };
}

/** True when undici's internals are where RotatingPool expects them. */
export function rotationAvailable(): boolean {
  const probe = new RotatingPool('http://127.0.0.1:9', { connections: 2 });
  void probe.close();
  return GET_DISPATCHER !== undefined && CONNECTED !== undefined && found !== undefined;
}

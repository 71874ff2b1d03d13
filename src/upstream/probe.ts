import type { ClientConnection, ResponseHandler } from '../http1/client-connection.ts';
import type { UpstreamError } from '../http1/upstream-error.ts';
import type { Waiter } from './origin-pool.ts';
import type { UpstreamClient } from './upstream-client.ts';

/** A probe's verdict: a status, or the failure that stood in for one; undefined: no verdict. */
export interface ProbeResult {
  readonly status?: number;
  readonly failure?: string;
}

/**
 * One health probe, `GET path` through the same pools as the traffic (so it sees what requests
 * see, and counts against the same cap). The whole probe, connection included, has
 * `timeoutMs`. A pool that is full gives no verdict: a busy upstream is not a dead one.
 */
export function probe(
  client: UpstreamClient,
  origin: string,
  path: string,
  timeoutMs: number,
): Promise<ProbeResult | undefined> {
  return new Promise((resolve) => {
    const host = new URL(origin).host;
    const head = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\nuser-agent: reverse-proxy-health-check\r\n\r\n`;
    const pool = client.pool(origin);
    let connection: ClientConnection | undefined;
    let settled = false;
    const settle = (result: ProbeResult | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const handler: ResponseHandler = {
      onInterim: () => undefined,
      onHead: (status) => settle({ status }),
      onData: () => undefined,
      onEnd: () => undefined,
      onUpgrade: (_s, _h, socket) => socket.destroy(),
      onError: (err: UpstreamError) => settle({ failure: err.code }),
    };
    const plan = {
      body: 'none',
      expectBody: true,
      upgrade: false,
      responseMs: timeoutMs,
      idleMs: timeoutMs,
    } as const;
    const waiter: Waiter = {
      granted(granted) {
        if (settled) return pool.released(granted);
        connection = granted;
        granted.send(head, plan, handler);
      },
      refused: (err) => settle({ failure: err.code }),
    };
    const timer = setTimeout(() => {
      pool.cancel(waiter);
      connection?.abort();
      settle({ failure: 'timeout' });
    }, timeoutMs);
    const got = pool.acquire(timeoutMs, waiter);
    if (got === 'busy') settle(undefined);
    else if (got !== 'queued') waiter.granted(got);
  });
}

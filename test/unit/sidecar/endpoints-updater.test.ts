import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { AdminRequest } from '../../../src/admin/admin-client.ts';
import type { AdminReply } from '../../../src/admin/admin-protocol.ts';
import type { SliceLike } from '../../../src/sidecar/endpoint-aggregation.ts';
import { EndpointsUpdater } from '../../../src/sidecar/endpoints-updater.ts';
import type { EventRecorder } from '../../../src/sidecar/events.ts';
import { SidecarMetrics } from '../../../src/sidecar/sidecar-metrics.ts';

const sliceWith = (...addresses: string[]): SliceLike => ({
  metadata: { name: 's', labels: { 'kubernetes.io/service-name': 'users' } },
  addressType: 'IPv4',
  endpoints: addresses.map((address) => ({ addresses: [address] })),
  ports: [{ name: 'http', port: 80 }],
});

function harness() {
  let slices = new Map<string, SliceLike[]>([['users', [sliceWith('10.0.0.1')]]]);
  const files: string[] = [];
  const sent: string[] = [];
  const gates: (() => void)[] = [];
  const recorded: string[] = [];
  const events: EventRecorder = {
    record: (_type, reason, message) => void recorded.push(`${reason}: ${message}`),
    flush: () => Promise.resolve(),
  };
  const updater = new EndpointsUpdater({
    path: '/unused',
    debounceMs: 0,
    target: { socketPath: '/unused', expectedUids: [0], timeoutMs: 1_000 },
    slices: () => slices,
    events,
    log: pino({ level: 'silent' }),
    metrics: new SidecarMetrics(),
    write: (_path, bytes) => {
      files.push(Buffer.from(bytes).toString('utf8'));
      return Promise.resolve();
    },
    send: (request: AdminRequest) =>
      new Promise<AdminReply>((resolve) => {
        sent.push(files.at(-1) ?? '');
        assert.equal(request.command, 'endpoints');
        gates.push(() => resolve({ status: 'ok' }));
      }),
  });
  updater.setRefs([{ service: 'users', port: 'http' }]);
  const addressesSent = () =>
    sent.map((text) =>
      (
        JSON.parse(text) as { services: { endpoints: { address: string }[] }[] }
      ).services[0]?.endpoints
        .map((e) => e.address)
        .join(','),
    );
  return {
    updater,
    setSlices: (...addresses: string[]) =>
      (slices = new Map([['users', [sliceWith(...addresses)]]])),
    gates,
    addressesSent,
    recorded,
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Waits (event loop turns and timers alike, up to 2 s) until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 2_000; waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('EndpointsUpdater', () => {
  it('keeps one command in flight and delivers the latest set once it returns (coalesced)', async () => {
    const h = harness();
    const first = h.updater.flushNow();
    await turn();
    assert.equal(h.gates.length, 1);
    h.setSlices('10.0.0.1', '10.0.0.2');
    h.updater.changed();
    h.setSlices('10.0.0.1', '10.0.0.2', '10.0.0.3');
    h.updater.changed();
    await turn();
    await turn();
    assert.equal(h.gates.length, 1, 'nothing more while one is in flight');
    h.gates[0]?.();
    // The run in flight picks the newer set up itself, as one more command.
    await until(() => h.gates.length >= 2);
    assert.equal(h.gates.length, 2);
    h.gates[1]?.();
    await first;
    await h.updater.stop();
    assert.equal(h.gates.length, 2, 'the two changes went out as one command');
    assert.deepEqual(h.addressesSent(), ['10.0.0.1', '10.0.0.1,10.0.0.2,10.0.0.3']);
  });

  it('sends nothing when nothing the proxy uses changed', async () => {
    const h = harness();
    const first = h.updater.flushNow();
    await turn();
    h.gates[0]?.();
    await first;
    h.setSlices('10.0.0.1');
    await h.updater.flushNow();
    assert.equal(h.gates.length, 1);
    await h.updater.stop();
  });

  it('reports a problem once, and again only when it comes back', async () => {
    const h = harness();
    const flush = async () => {
      const done = h.updater.flushNow();
      for (let i = 0; i < 10 && h.gates.length === 0; i++) await turn();
      h.gates.shift()?.();
      await done;
    };
    h.updater.setRefs([{ service: 'ghost', port: 80 }]);
    await flush();
    h.updater.setRefs([
      { service: 'ghost', port: 80 },
      { service: 'users', port: 'http' },
    ]);
    await flush();
    assert.deepEqual(h.recorded, [
      'EndpointsProblem: upstream service "ghost" port 80: Service "ghost" has no EndpointSlices',
    ]);
    await h.updater.stop();
  });
});

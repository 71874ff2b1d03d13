/**
 * What `rate_limit` costs, measured at the unit level (docs/performance.md, "Rate limits"):
 * the memory of a spray of distinct client addresses through the bucket table (bounded at
 * MAX_BUCKETS) and through a worker's lease cache, and the time and allocation of one take on
 * a hot key that never triggers, alone and through the route gate with an allow list.
 *
 * `node --expose-gc bench/rate-limit.ts [--addresses N]` prints a table and a JSON line. Not a
 * test: it times things, and the numbers depend on the machine.
 */
import { BlockList } from 'node:net';
import { parseArgs } from 'node:util';
import { runGate } from '../src/access/request-gate.ts';
import type { GateDeps, GateRequest } from '../src/access/request-gate.ts';
import type { RouteGate, RouteRateLimit } from '../src/access/route-gate.ts';
import { BucketTable, MAX_BUCKETS } from '../src/rate-limit/bucket-table.ts';
import { LeasedLimiter } from '../src/rate-limit/leased-limiter.ts';
import type { RateTake } from '../src/rate-limit/lease-protocol.ts';

const { values } = parseArgs({ options: { addresses: { type: 'string', default: '1000000' } } });
const ADDRESSES = Number(values.addresses);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

/** Heap and typed-array memory after a full collection, in bytes. */
function held(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * The nth address as the proxy gets it: a flat string made from bytes (as a socket's
 * remoteAddress is), not a concatenation V8 may keep as a rope.
 */
const scratch = Buffer.alloc(64);
function address(n: number, v6: boolean): string {
  const text = v6
    ? `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}:5a1e:9c3f:be07:${(n % 997).toString(16)}`
    : `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  const length = scratch.write(text, 'latin1');
  return scratch.toString('latin1', 0, length);
}

const limit: RouteRateLimit = Object.freeze({
  scope: 'site api',
  ratePerSecond: 10,
  burst: 20,
  by: 'client_ip',
});

interface Spray {
  readonly kind: string;
  readonly held: number;
  readonly bytesPerEntry: number;
  readonly nsPerTake: number;
  readonly rssMb: number;
}

/**
 * A million distinct clients, each one request, the clock moving as real traffic would; the
 * event loop turns every 1,000 requests (a worker's asks go out then).
 */
async function spray(
  kind: string,
  v6: boolean,
  make: (now: () => number) => { size: number; take: (a: string) => unknown },
): Promise<Spray> {
  let t = 0;
  const before = held();
  const rssBefore = process.memoryUsage().rss;
  const target = make(() => t);
  const started = process.hrtime.bigint();
  for (let i = 0; i < ADDRESSES; i++) {
    if (i % 1_000 === 0) {
      t += 1; // a million new clients over 1,000 s: none refills its burst
      await new Promise((resolve) => setImmediate(resolve));
    }
    target.take(address(i, v6));
  }
  const ns = Number(process.hrtime.bigint() - started) / ADDRESSES;
  const bytes = held() - before;
  return {
    kind,
    held: target.size,
    bytesPerEntry: bytes / target.size,
    nsPerTake: ns,
    rssMb: (process.memoryUsage().rss - rssBefore) / 2 ** 20,
  };
}

async function buckets(v6: boolean): Promise<Spray> {
  let table: BucketTable | undefined;
  const result = await spray(`buckets, IPv${v6 ? 6 : 4}`, v6, (now) => {
    table = new BucketTable({ now, sweepEveryMs: 0 });
    const t = table;
    return {
      get size() {
        return t.size;
      },
      take: (a) => t.take(limit, a),
    };
  });
  if (table === undefined) throw new Error('no table');
  return result;
}

/** A worker's lease cache, its primary answering at once (one token per new client). */
function leases(): Promise<Spray> {
  return spray('primary buckets + a worker lease cache, IPv4', false, (now) => {
    const primary = new BucketTable({ now, sweepEveryMs: 0 });
    const worker: LeasedLimiter = new LeasedLimiter({
      workers: 2,
      now,
      sweepEveryMs: 0,
      later: () => undefined,
      send: (takes: RateTake[]) => {
        const grants = primary.answer(takes);
        setImmediate(() => worker.grant(grants));
        return true;
      },
    });
    return {
      get size() {
        return primary.size;
      },
      take: (a) => worker.take(limit, a),
    };
  });
}

/** ns and heap bytes per call of `fn`, over `n` calls after a warm-up. */
function perCall(n: number, fn: (i: number) => unknown): { ns: number; bytes: number } {
  for (let i = 0; i < 200_000; i++) fn(i);
  gc?.();
  const heap = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - started) / n;
  return { ns, bytes: (process.memoryUsage().heapUsed - heap) / n };
}

// The bench's /guarded/ route (bench/proxy.ts): an allow list and a limit that never triggers.
const never: RouteRateLimit = Object.freeze({
  scope: 'route bench /guarded/',
  ratePerSecond: 1_000_000,
  burst: 10_000_000,
  by: 'client_ip',
});
const allow = new BlockList();
allow.addSubnet('127.0.0.0', 8, 'ipv4');
const gate = (rateLimit: RouteRateLimit | undefined): RouteGate => ({
  deny: undefined,
  allow,
  rateLimit,
  maxBodyBytes: undefined,
  basicAuth: undefined,
  forwardAuth: undefined,
});
const hot = new BucketTable({ sweepEveryMs: 0 });
const deps = { limiter: hot } as unknown as GateDeps;
const request = { client: '127.0.0.1', req: { rawHeaders: [] } } as unknown as GateRequest;
const N = 5_000_000;
const stoppedAt = 0;
const still = new BucketTable({ sweepEveryMs: 0, now: () => stoppedAt });
const allowOnly = gate(undefined);
const both = gate(never);
const take = perCall(N, () => hot.take(never, '127.0.0.1'));
const takeNoClock = perCall(N, () => still.take(never, '127.0.0.1'));
const clock = perCall(N, () => performance.now());
const gateAllow = perCall(N, () => runGate(allowOnly, request, deps));
const gateBoth = perCall(N, () => runGate(both, request, deps));

// After the hot-key figures, so their loops run on a quiet heap.
const sprays = [await buckets(false), await buckets(true), await leases()];
const making = perCall(ADDRESSES, (i) => address(i, false));

const rows = [
  `| spray of ${ADDRESSES.toLocaleString('en')} addresses | held | bytes per entry | MB for ${MAX_BUCKETS.toLocaleString('en')} | ns per take | RSS growth MB |`,
  '|---|---|---|---|---|---|',
  ...sprays.map(
    (s) =>
      `| ${s.kind} | ${s.held.toLocaleString('en')} | ${s.bytesPerEntry.toFixed(0)} | ${((s.bytesPerEntry * MAX_BUCKETS) / 2 ** 20).toFixed(1)} | ${s.nsPerTake.toFixed(0)} | ${s.rssMb.toFixed(1)} |`,
  ),
  `| (making an IPv4 address string alone: ${making.ns.toFixed(0)} ns) | | | | | |`,
  '',
  '| hot key, never triggers | ns per call | heap bytes per call |',
  '|---|---|---|',
  `| BucketTable.take | ${take.ns.toFixed(1)} | ${take.bytes.toFixed(2)} |`,
  `| of which performance.now() | ${clock.ns.toFixed(1)} | ${clock.bytes.toFixed(2)} |`,
  `| BucketTable.take, a clock that reads a variable | ${takeNoClock.ns.toFixed(1)} | ${takeNoClock.bytes.toFixed(2)} |`,
  `| runGate, allow list only | ${gateAllow.ns.toFixed(1)} | ${gateAllow.bytes.toFixed(2)} |`,
  `| runGate, allow list + rate limit | ${gateBoth.ns.toFixed(1)} | ${gateBoth.bytes.toFixed(2)} |`,
];
process.stdout.write(`${rows.join('\n')}\n`);
process.stdout.write(
  `${JSON.stringify({ sprays, making, take, takeNoClock, clock, gateAllow, gateBoth })}\n`,
);

/**
 * The two upstreams of bench/fuzz.ts, raw TCP servers that frame the proxy's requests
 * themselves (fuzz-framing.ts), like test/raw-http.ts: the recording upstream answers `200 ok`
 * to each; the hostile upstream answers each with the made-up reply its target names
 * (fuzz-responses.ts), in random splits, then keeps, closes, resets or stalls the connection.
 * Both count what they saw and keep the first requests they could not frame: whatever the
 * client sent, the proxy must forward well-framed requests only.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { frameRequest } from './fuzz-framing.ts';
import { writePlan } from './fuzz-random.ts';
import { hostileReply } from './fuzz-responses.ts';
import type { UpstreamEnding } from './fuzz-responses.ts';

/** Samples of unframeable requests kept for the report; the count goes on. */
const KEEP_SAMPLES = 5;
/** Bytes kept of each sample. */
const SAMPLE_BYTES = 4_096;

export interface UnframeableRequest {
  readonly reason: string;
  readonly bytes: Buffer;
}

export interface FuzzUpstream {
  readonly url: string;
  readonly stats: {
    accepted: number;
    requests: number;
    replies: number;
    unframeable: number;
    readonly samples: UnframeableRequest[];
  };
  open(): number;
  /**
   * Connections on which this upstream stopped answering (a stalled reply) that are still
   * open: the proxy's response or idle timeout must close each within seconds.
   */
  stalled(): number;
  close(): Promise<void>;
}

/** Writes the reply to one request; resolves with how the connection goes on. */
type Respond = (socket: net.Socket, method: string, target: string) => Promise<UpstreamEnding>;

async function startFramingServer(respond: Respond): Promise<FuzzUpstream> {
  const sockets = new Set<net.Socket>();
  const stalled = new Set<net.Socket>();
  const stats = {
    accepted: 0,
    requests: 0,
    replies: 0,
    unframeable: 0,
    samples: [] as UnframeableRequest[],
  };
  const server = net.createServer((socket) => {
    stats.accepted++;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      stalled.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    serve(socket, respond, stats, () => stalled.add(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    open: () => sockets.size,
    stalled: () => stalled.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * One connection: frames requests as bytes arrive and answers them one at a time, in order
 * (a reply written in pieces must not interleave with the next one).
 */
function serve(
  socket: net.Socket,
  respond: Respond,
  stats: FuzzUpstream['stats'],
  onStall: () => void,
): void {
  let pending: Buffer = Buffer.alloc(0);
  let busy = false;
  let stalled = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    try {
      while (!stalled && !socket.destroyed) {
        const framed = frameRequest(pending);
        if (framed.kind === 'incomplete') break;
        if (framed.kind === 'bad') {
          stats.unframeable++;
          if (stats.samples.length < KEEP_SAMPLES) {
            stats.samples.push({
              reason: framed.reason,
              bytes: Buffer.from(pending.subarray(0, SAMPLE_BYTES)),
            });
          }
          socket.destroy();
          break;
        }
        pending = pending.subarray(framed.length);
        stats.requests++;
        const ending = await respond(socket, framed.method, framed.target);
        stats.replies++;
        if (ending === 'close') socket.end();
        else if (ending === 'reset') socket.resetAndDestroy();
        // A stalled connection answers nothing more: the proxy's timeouts must end it.
        else if (ending === 'stall') {
          stalled = true;
          if (!socket.destroyed) onStall();
        }
        if (ending !== 'keep') break;
      }
    } finally {
      busy = false;
    }
  };
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    void pump();
  });
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n';

/** Answers every request `200 ok` at once, in one write (a HEAD gets the head only). */
export function startRecordingUpstream(): Promise<FuzzUpstream> {
  return startFramingServer(async (socket, method) => {
    socket.write(method === 'HEAD' ? OK : `${OK}ok`);
    return 'keep';
  });
}

/** Answers each request with hostileReply(method, target), in its random splits. */
export function startHostileUpstream(): Promise<FuzzUpstream> {
  return startFramingServer(async (socket, method, target) => {
    const reply = hostileReply(method, target);
    await writePlan(socket, reply.plan, () => false);
    return reply.ending;
  });
}

import { readFileSync } from 'node:fs';

/** The kernel counters that reveal a full accept queue: what the 256-connection tail is about. */
export interface ListenCounters {
  readonly listenOverflows: number;
  readonly listenDrops: number;
  readonly synRetrans: number;
}

/** Reads TcpExt counters from /proc/net/netstat (what `nstat` shows), without side effects. */
export function readListenCounters(): ListenCounters {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const header = lines.find((l) => l.startsWith('TcpExt:'));
    const values = lines.filter((l) => l.startsWith('TcpExt:'))[1];
    if (header === undefined || values === undefined) throw new Error('no TcpExt');
    const names = header.split(/\s+/);
    const numbers = values.split(/\s+/).map(Number);
    const get = (name: string) => numbers[names.indexOf(name)] ?? 0;
    return {
      listenOverflows: get('ListenOverflows'),
      listenDrops: get('ListenDrops'),
      synRetrans: get('TCPSynRetrans'),
    };
  } catch {
    return { listenOverflows: 0, listenDrops: 0, synRetrans: 0 };
  }
}

export function diffCounters(before: ListenCounters, after: ListenCounters): ListenCounters {
  return {
    listenOverflows: after.listenOverflows - before.listenOverflows,
    listenDrops: after.listenDrops - before.listenDrops,
    synRetrans: after.synRetrans - before.synRetrans,
  };
}

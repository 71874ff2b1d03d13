import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * The pids of the processes holding established connections whose local port is `port`:
 * the socket inodes of /proc/net/tcp matched with each pid's descriptors. No response says
 * which worker served it, by design; the kernel does.
 */
export function pidsServingPort(port: number, pids: readonly number[]): Map<number, number> {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const localPort = parseInt((fields[1] as string).split(':')[1] as string, 16);
    if (localPort === port && fields[3] === '01') inodes.add(fields[9] as string);
  }
  const counts = new Map<number, number>();
  for (const pid of pids) {
    let n = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (inodes.has(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '')) n++;
      } catch {
        // closed while we looked
      }
    }
    counts.set(pid, n);
  }
  return counts;
}

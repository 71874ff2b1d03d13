/**
 * One attack in a process of its own (`node bench/hostile-attack.ts '<AttackPlan JSON>' <maxMs>`),
 * so that each system's 10,000 connections fit in a process's open-files limit. Reports on
 * stdout, one JSON line each: 'established' once every connection was tried, 'status' every
 * 250 ms, and on SIGUSR2 (or after maxMs) 'final' with every connection; then exits.
 */
import { Attack } from './hostile-clients.ts';
import type { AttackPlan, HeldConnection } from './hostile-clients.ts';

export type AttackReport =
  | { type: 'established'; at: number; held: number; connectFailures: number; failed: number }
  | { type: 'status'; open: number; firstCloseAt: number | null }
  | {
      type: 'final';
      conns: HeldConnection[];
      connectFailures: number;
      responseFailures: number;
    };

const send = (report: AttackReport) => process.stdout.write(`${JSON.stringify(report)}\n`);

const plan = JSON.parse(process.argv[2] ?? '') as AttackPlan;
const maxMs = Number(process.argv[3] ?? 600_000);
const attack = new Attack(plan);
let finished = false;
const finish = () => {
  if (finished) return;
  finished = true;
  clearInterval(status);
  clearTimeout(bound);
  // Snapshot before stop(): what the server closed, and what is still open, right now.
  const conns = attack.conns.map((c) => ({ ...c }));
  attack.stop();
  const line = JSON.stringify({
    type: 'final',
    conns,
    connectFailures: attack.connectFailures,
    responseFailures: attack.responseFailures,
  } satisfies AttackReport);
  // Exit once the line is out: a pipe to the parent may take it asynchronously.
  process.stdout.write(`${line}\n`, () => process.exit(0));
};
process.on('SIGUSR2', finish);
process.on('SIGTERM', finish);
const bound = setTimeout(finish, maxMs);
const status = setInterval(
  () => send({ type: 'status', open: attack.openCount, firstCloseAt: attack.firstCloseAt ?? null }),
  250,
);
await attack.open();
send({
  type: 'established',
  at: Date.now(),
  held: attack.held.length,
  connectFailures: attack.connectFailures,
  failed: attack.conns.length - attack.held.length,
});

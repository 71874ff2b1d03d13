#!/usr/bin/env -S node --max-semi-space-size=16
// The flag caps V8's young generation at 16 MB per semi-space. V8 sizes it from the memory it
// sees (64 MB per semi-space on a 24 GiB host), and a proxy's garbage is short-lived
// per-request objects: under 256 connections the cap took RSS from 170 to 144 MB at the same
// throughput (docs/performance.md). Launchers that run this file with an explicit node pass
// the same flags (node-flags.ts).
import { nodeVersionProblem } from './node-version.ts';

// The Node check comes before everything else: static imports are evaluated before this
// module's body, so the rest is imported only once the check passed. On another Node the
// operator gets one line naming both versions, not a TypeError from inside a dependency.
// `.then` rather than top-level await, so that even a very old Node parses this file.
const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`reverse-proxy: ${problem}\n`);
  process.exit(1);
}
import('./cli-main.ts').then(({ runCli }) => runCli(process.argv.slice(2)));

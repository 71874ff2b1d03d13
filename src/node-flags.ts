import { readFileSync } from 'node:fs';

/**
 * The Node flags on a script's `#!/usr/bin/env -S node <flags>` line. The installed
 * `reverse-proxy` command (npm's bin link, the image's ENTRYPOINT) runs through that line;
 * launchers that start the script with an explicit node binary (`npm start`, the benchmark)
 * pass these flags so that it runs exactly as installed.
 */
export function shebangNodeFlags(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\S*env -S node((?: --?\S+)*)\s*$/.exec(first);
  return (
    match?.[1]
      ?.trim()
      .split(/\s+/)
      .filter((flag) => flag !== '') ?? []
  );
}

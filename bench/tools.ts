import { execFileSync } from 'node:child_process';

/** Absolute path of a command on PATH (plus the sbin directories nginx lives in), or undefined. */
export function which(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    try {
      execFileSync('test', ['-x', `${dir}/${command}`]);
      return `${dir}/${command}`;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * nginx, wrk, h2load (nghttp2-client), openssl and taskset, installed from Debian packages when missing (as root only: the
 * benchmark never asks for a password).
 */
export interface Tools {
  readonly nginx: string;
  readonly wrk: string;
  readonly h2load: string;
  readonly openssl: string;
}

export function ensureTools(): Tools {
  const missing = [
    ['nginx', 'nginx-light'],
    ['wrk', 'wrk'],
    ['h2load', 'nghttp2-client'],
    ['openssl', 'openssl'],
    ['taskset', 'util-linux'],
  ].filter(([command]) => which(command as string) === undefined);
  if (missing.length > 0) {
    const packages = missing.map(([, pkg]) => pkg as string);
    if (process.getuid?.() !== 0) {
      throw new Error(`missing ${packages.join(', ')}: install them (apt-get install -y ...)`);
    }
    process.stderr.write(`installing ${packages.join(' ')} ...\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
    // nginx-light is Debian 12's small build; newer releases only ship `nginx`.
    try {
      execFileSync('apt-get', ['install', '-y', '-q', ...packages], { stdio: 'ignore', env });
    } catch {
      const fallback = packages.map((p) => (p === 'nginx-light' ? 'nginx' : p));
      execFileSync('apt-get', ['install', '-y', '-q', ...fallback], { stdio: 'ignore', env });
    }
  }
  const nginx = which('nginx');
  const wrk = which('wrk');
  const h2load = which('h2load');
  const openssl = which('openssl');
  if (nginx === undefined || wrk === undefined || h2load === undefined || openssl === undefined) {
    throw new Error('nginx, wrk, h2load or openssl not found');
  }
  return { nginx, wrk, h2load, openssl };
}

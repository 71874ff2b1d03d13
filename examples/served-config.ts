import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { LIMITS } from '../src/config/limits.ts';

/** The config `npm start` serves, and its admin socket ('' when it is off). */
export interface ServedConfig {
  readonly path: string;
  readonly socket: string;
}

const HEADER = ` Written by \`npm start\` at every start: examples/proxy.yaml with admin.socket set to this
 checkout's run/admin.sock. Edit this copy and reload to try a change live; edit
 examples/proxy.yaml to keep it.`;

/**
 * Writes run/proxy.yaml: examples/proxy.yaml with the admin socket in run/. Why a copy:
 * admin.socket must be an absolute path, and a committed file cannot know where the checkout
 * is. run/ is created 0700, as the proxy requires of a socket directory; if it already exists
 * with looser modes the proxy refuses it and its message says how to fix it.
 */
export async function writeServedConfig(root: string): Promise<ServedConfig> {
  const runDir = join(root, 'run');
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  const source = join(root, 'examples', 'proxy.yaml');
  const doc = parseDocument(await readFile(source, 'utf8'));
  const [error] = doc.errors;
  if (error !== undefined) throw new Error(`${relative(root, source)}: ${error.message}`);
  let socket = join(runDir, 'admin.sock');
  if (Buffer.byteLength(socket) > LIMITS.maxSocketPathBytes) {
    // The kernel's sun_path limit: a deep checkout still gets the proxy, without the socket.
    process.stdout.write(
      `admin socket off: ${socket} is over the ${LIMITS.maxSocketPathBytes}-byte limit for socket paths\n`,
    );
    socket = '';
  }
  doc.setIn(['admin', 'socket'], socket);
  doc.commentBefore = HEADER;
  const path = join(runDir, 'proxy.yaml');
  // Replaced atomically, as the operator guide asks of every config writer.
  await writeFile(`${path}.tmp`, doc.toString());
  await rename(`${path}.tmp`, path);
  return { path, socket };
}

import { isIP } from 'node:net';
import { open } from 'node:fs/promises';
import { ProxyError } from '../errors.ts';

/**
 * The endpoints file (`--endpoints-file`, docs/config.md "Service upstreams"): what the sidecar
 * writes from EndpointSlices, or what a person or another tool writes (the file-based source
 * for compose). Read, bounded and checked field by field here; the data that leaves is plain
 * JSON, so it crosses to workers as it is. Checked by hand rather than with Joi: a file of
 * thousands of endpoints is read at every update, and hand checks cost a fraction of it.
 */

export const MAX_ENDPOINTS_FILE_BYTES = 16 * 1024 * 1024;

export interface EndpointData {
  readonly address: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

export interface ServiceEndpointsData {
  readonly service: string;
  /** As the config wrote it (a name or a number). */
  readonly port: string | number;
  readonly resolved_port: number | null;
  readonly problem: string | null;
  readonly endpoints: readonly EndpointData[];
}

/** How many endpoints have each condition (an endpoint may count under several). */
export interface ConditionCounts {
  readonly ready: number;
  readonly serving: number;
  readonly terminating: number;
}

export function countConditions(
  endpoints: readonly Pick<EndpointData, 'ready' | 'serving' | 'terminating'>[],
): ConditionCounts {
  let ready = 0;
  let serving = 0;
  let terminating = 0;
  for (const e of endpoints) {
    if (e.ready) ready++;
    if (e.serving) serving++;
    if (e.terminating) terminating++;
  }
  return { ready, serving, terminating };
}

export interface EndpointsFileData {
  readonly generated_at: string;
  readonly services: readonly ServiceEndpointsData[];
}

/** Why the file was refused; the admin reply never carries it (seed C3), the log does. */
export class EndpointsFileError extends ProxyError {
  constructor(path: string, why: string) {
    super('ERR_ENDPOINTS_INVALID', `${path}: ${why}`);
  }
}

/** undefined: the file does not exist (at start that is no error: nothing delivered yet). */
export async function readEndpointsFile(path: string): Promise<EndpointsFileData | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EndpointsFileError(path, `cannot be read (${(err as NodeJS.ErrnoException).code})`);
  }
  let text: string;
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new EndpointsFileError(path, 'is not a regular file');
    if (stat.size > MAX_ENDPOINTS_FILE_BYTES) {
      throw new EndpointsFileError(path, `is larger than ${MAX_ENDPOINTS_FILE_BYTES} bytes`);
    }
    // Read up to one byte past the cap: a file that grew since the stat is refused too.
    const buffer = Buffer.alloc(Math.min(stat.size + 1, MAX_ENDPOINTS_FILE_BYTES + 1));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_ENDPOINTS_FILE_BYTES) {
      throw new EndpointsFileError(path, `is larger than ${MAX_ENDPOINTS_FILE_BYTES} bytes`);
    }
    text = buffer.toString('utf8', 0, bytesRead);
  } catch (err) {
    if (err instanceof EndpointsFileError) throw err;
    throw new EndpointsFileError(path, `cannot be read (${(err as NodeJS.ErrnoException).code})`);
  } finally {
    await handle.close();
  }
  return parseEndpoints(path, text);
}

export function parseEndpoints(path: string, text: string): EndpointsFileData {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new EndpointsFileError(path, 'is not JSON');
  }
  const why = checkFile(value);
  if (why !== undefined) throw new EndpointsFileError(path, why);
  const file = value as EndpointsFileData;
  // Only the known fields go on: nothing else of the file reaches the workers or the table.
  return {
    generated_at: file.generated_at,
    services: file.services.map((s) => ({
      service: s.service,
      port: s.port,
      resolved_port: s.resolved_port,
      problem: s.problem,
      endpoints: s.endpoints.map((e) => ({
        address: e.address,
        port: e.port,
        ready: e.ready,
        serving: e.serving,
        terminating: e.terminating,
      })),
    })),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65_535;

/** The first thing wrong, named by its place in the file (`services[2].endpoints[0].port`). */
function checkFile(value: unknown): string | undefined {
  if (!isRecord(value)) return 'must be a JSON object';
  if (value.kind !== 'ReverseProxyEndpoints') return 'kind: must be "ReverseProxyEndpoints"';
  if (value.version !== 1) return 'version: must be 1 (the only version this proxy reads)';
  if (typeof value.generated_at !== 'string' || Number.isNaN(Date.parse(value.generated_at))) {
    return 'generated_at: must be an ISO 8601 time';
  }
  if (!Array.isArray(value.services)) return 'services: must be a list';
  const seen = new Set<string>();
  for (let i = 0; i < value.services.length; i++) {
    const why = checkService(value.services[i]);
    if (why !== undefined) return `services[${i}]${why}`;
    const s = value.services[i] as ServiceEndpointsData;
    const key = `${s.service}\0${String(s.port)}`;
    if (seen.has(key)) return `services[${i}]: ${s.service} port ${String(s.port)} is listed twice`;
    seen.add(key);
  }
  return undefined;
}

function checkService(s: unknown): string | undefined {
  if (!isRecord(s)) return ': must be an object';
  if (typeof s.service !== 'string' || s.service === '' || s.service.length > 63) {
    return '.service: must be a Service name';
  }
  if (!(isPort(s.port) || (typeof s.port === 'string' && /^[a-z0-9-]{1,63}$/.test(s.port)))) {
    return '.port: must be a port name or number';
  }
  if (s.resolved_port !== null && !isPort(s.resolved_port)) {
    return '.resolved_port: must be a port number or null';
  }
  if (s.problem !== null && typeof s.problem !== 'string') return '.problem: must be text or null';
  if (!Array.isArray(s.endpoints)) return '.endpoints: must be a list';
  for (let j = 0; j < s.endpoints.length; j++) {
    const e: unknown = s.endpoints[j];
    if (!isRecord(e)) return `.endpoints[${j}]: must be an object`;
    if (typeof e.address !== 'string' || isIP(e.address) === 0 || e.address.includes('%')) {
      return `.endpoints[${j}].address: must be an IPv4 or IPv6 address`;
    }
    if (!isPort(e.port)) return `.endpoints[${j}].port: must be a port number`;
    for (const condition of ['ready', 'serving', 'terminating'] as const) {
      if (typeof e[condition] !== 'boolean') {
        return `.endpoints[${j}].${condition}: must be true or false`;
      }
    }
  }
  return undefined;
}

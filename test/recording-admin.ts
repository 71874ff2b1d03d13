import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { sha256Hex } from './helpers.ts';

/** One command the recording admin socket got, with what the files held at that moment. */
export interface RecordedCommand {
  readonly command: string;
  readonly at: number;
  /** For `endpoints`: the parsed --endpoints-file as the proxy would have read it. */
  readonly endpoints?: EndpointsFileShape;
  /** For `reload`: the sha256 of --config-out. */
  readonly configSha?: string;
}

export interface EndpointsFileShape {
  kind: string;
  version: number;
  generated_at: string;
  services: {
    service: string;
    port: string | number;
    resolved_port: number | null;
    problem: string | null;
    endpoints: {
      address: string;
      port: number;
      ready: boolean;
      serving: boolean;
      terminating: boolean;
    }[];
  }[];
}

export interface RecordingAdmin {
  readonly commands: RecordedCommand[];
  /** Replies to `endpoints` with this error text from now on (undefined: ok). */
  refuseEndpoints(message: string | undefined): void;
  close(): Promise<void>;
}

/**
 * A stand-in for the proxy's admin socket that answers as the proxy does: `reload` reads
 * --config-out, `status` confirms its sha256, `endpoints` reads --endpoints-file. It records
 * each command with the file contents at that moment, so tests can check the order.
 */
export async function startRecordingAdmin(
  socketPath: string,
  configOut: string,
  endpointsFile: string,
): Promise<RecordingAdmin> {
  const commands: RecordedCommand[] = [];
  let servedSha = '';
  let generation = 0;
  let refusal: string | undefined;
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline === -1) return;
      const command = buffered.slice(0, newline);
      let reply: Record<string, unknown>;
      if (command === 'reload') {
        servedSha = sha256Hex(readFileSync(configOut));
        generation++;
        commands.push({ command, at: Date.now(), configSha: servedSha });
        reply = { status: 'ok', outcome: 'reloaded', generation };
      } else if (command === 'status') {
        commands.push({ command, at: Date.now() });
        reply = { status: 'ok', config_sha256: servedSha, generation };
      } else if (command === 'endpoints') {
        const endpoints = JSON.parse(readFileSync(endpointsFile, 'utf8')) as EndpointsFileShape;
        commands.push({ command, at: Date.now(), endpoints });
        const count = endpoints.services.reduce((n, s) => n + s.endpoints.length, 0);
        reply =
          refusal === undefined
            ? {
                status: 'ok',
                services: endpoints.services.length,
                endpoints: count,
                generated_at: endpoints.generated_at,
              }
            : { status: 'error', message: refusal };
      } else {
        commands.push({ command, at: Date.now() });
        reply = { status: 'error', message: 'unknown command' };
      }
      socket.end(`${JSON.stringify(reply)}\n`);
    });
    socket.on('error', () => undefined);
  });
  server.listen(socketPath);
  await once(server, 'listening');
  return {
    commands,
    refuseEndpoints: (message) => (refusal = message),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

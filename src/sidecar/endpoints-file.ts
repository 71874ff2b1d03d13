import type { ServiceEntry } from './endpoint-aggregation.ts';
import { writeFileAtomic } from './config-writer.ts';

/** The proxy refuses a larger file; the sidecar never writes one. */
export const MAX_ENDPOINTS_FILE_BYTES = 16 * 1024 * 1024;

/** The `--endpoints-file` document (the interface the proxy reads, docs/operations.md). */
export interface EndpointsDocument {
  readonly kind: 'ReverseProxyEndpoints';
  readonly version: 1;
  readonly generated_at: string;
  readonly services: readonly ServiceEntry[];
}

export function endpointsDocument(services: readonly ServiceEntry[], now: Date): EndpointsDocument {
  return {
    kind: 'ReverseProxyEndpoints',
    version: 1,
    generated_at: now.toISOString(),
    services,
  };
}

/**
 * Serialises and writes the document atomically, mode 0600 (temp file, fsync, rename, the same
 * writer as --config-out). Throws a RangeError when the text is over the proxy's limit, so
 * a write the proxy would refuse never replaces a good file.
 */
export async function writeEndpointsFile(
  path: string,
  document: EndpointsDocument,
  write: (path: string, bytes: Uint8Array) => Promise<void> = writeFileAtomic,
): Promise<number> {
  const bytes = Buffer.from(`${JSON.stringify(document)}\n`, 'utf8');
  if (bytes.length > MAX_ENDPOINTS_FILE_BYTES) {
    throw new RangeError(
      `the endpoints file would be ${bytes.length} bytes, over the ${MAX_ENDPOINTS_FILE_BYTES}-byte limit`,
    );
  }
  await write(path, bytes);
  return bytes.length;
}

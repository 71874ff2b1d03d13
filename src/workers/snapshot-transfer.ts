import { createSecureContext } from 'node:tls';
import { compileSnapshot } from '../config/snapshot.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { ProxyConfig } from '../config/types.ts';
import { CertificateSet } from '../tls/certificates.ts';
import type { HtpasswdFile, HtpasswdSet } from '../access/htpasswd-files.ts';
import type { LoadedCertificate } from '../tls/certificates.ts';
import type { PageFile, PageFileSet } from '../error-pages/page-files.ts';

/** A certificate as it crosses to a worker: everything but the secure context. */
export type CertificateData = Omit<LoadedCertificate, 'context'>;

/** An htpasswd file as it crosses to a worker: its users as [name, hash] pairs. */
export interface HtpasswdFileData extends Omit<HtpasswdFile, 'users'> {
  readonly users: readonly (readonly [string, string])[];
}

/**
 * A validated config as the primary sends it to a worker: plain data (structured clone), no
 * compiled table and no secure contexts, which each process must build for itself. The
 * primary has read, parsed and checked it, certificates and htpasswd files included; a worker
 * only compiles (it never reads those files: every process checks the users the primary read).
 */
export interface SnapshotData {
  readonly generation: number;
  readonly sha256: string;
  readonly config: ProxyConfig;
  readonly certificates: readonly CertificateData[];
  readonly minVersion: CertificateSet['minVersion'];
  readonly warnings: CertificateSet['warnings'];
  readonly htpasswd: readonly HtpasswdFileData[];
  readonly htpasswdWarnings: HtpasswdSet['warnings'];
  /** The `error_pages` files as the primary read them (a worker never reads them itself). */
  readonly pageFiles: readonly PageFile[];
  readonly pageWarnings: PageFileSet['warnings'];
}

export function snapshotData(snapshot: Snapshot): SnapshotData {
  return {
    generation: snapshot.generation,
    sha256: snapshot.sha256,
    config: snapshot.config,
    certificates: snapshot.certificates.list.map(withoutContext),
    minVersion: snapshot.certificates.minVersion,
    warnings: snapshot.certificates.warnings,
    htpasswd: [...snapshot.htpasswd.files.values()].map((f) => ({ ...f, users: [...f.users] })),
    htpasswdWarnings: snapshot.htpasswd.warnings,
    pageFiles: [...snapshot.pageFiles.files.values()],
    pageWarnings: snapshot.pageFiles.warnings,
  };
}

/**
 * Compiles what the primary sent. Pairs this worker already serves (same fingerprint and
 * files) keep their context, as a reload in one process does.
 */
export function snapshotFromData(data: SnapshotData, previous?: Snapshot): Snapshot {
  const known = new Map(previous?.certificates.list.map((c) => [c.fingerprint, c]) ?? []);
  const list = data.certificates.map((cert): LoadedCertificate => {
    const same = known.get(cert.fingerprint);
    if (same !== undefined && same.certFile === cert.certFile && same.keyFile === cert.keyFile) {
      return same;
    }
    const context = createSecureContext({
      cert: cert.cert,
      key: cert.key,
      minVersion: data.minVersion,
    });
    return Object.freeze({
      ...cert,
      cert: Buffer.from(cert.cert),
      key: Buffer.from(cert.key),
      context,
    });
  });
  const certificates = new CertificateSet(Object.freeze(list), data.minVersion, data.warnings);
  return compileSnapshot(
    data.config,
    data.sha256,
    data.generation,
    certificates,
    htpasswdFromData(data, previous),
    pagesFromData(data, previous),
  );
}

/** Pages this worker already holds (same path and bytes) keep their object, as in the primary. */
function pagesFromData(data: SnapshotData, previous: Snapshot | undefined): PageFileSet {
  const files = new Map<string, PageFile>();
  for (const file of data.pageFiles) {
    const same = previous?.pageFiles.files.get(file.path);
    files.set(
      file.path,
      same !== undefined && same.sha256 === file.sha256
        ? same
        : // Structured clone hands a Buffer over as a plain Uint8Array.
          Object.freeze({ ...file, body: Buffer.from(file.body) }),
    );
  }
  return Object.freeze({ files, warnings: data.pageWarnings });
}

/** Files this worker already holds (same path and bytes) keep their object, as in the primary. */
function htpasswdFromData(data: SnapshotData, previous: Snapshot | undefined): HtpasswdSet {
  const files = new Map<string, HtpasswdFile>();
  for (const file of data.htpasswd) {
    const same = previous?.htpasswd.files.get(file.path);
    files.set(
      file.path,
      same !== undefined && same.sha256 === file.sha256
        ? same
        : Object.freeze({ ...file, users: new Map(file.users) }),
    );
  }
  return Object.freeze({ files, warnings: data.htpasswdWarnings });
}

function withoutContext(cert: LoadedCertificate): CertificateData {
  const { certFile, keyFile, names, subject, notAfter, notBefore, fingerprint } = cert;
  return {
    certFile,
    keyFile,
    names,
    subject,
    notAfter,
    notBefore,
    fingerprint,
    cert: cert.cert,
    key: cert.key,
  };
}

import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { ConfigInvalidError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import type { TlsConfig } from '../config/types.ts';

/** One certificate and key pair as the listeners serve it. */
export interface LoadedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** The DNS names of its subjectAltName (its CN when it has none), lower-cased. */
  readonly names: readonly string[];
  readonly subject: string;
  readonly notAfter: Date;
  /** sha256 of the two files' bytes: unchanged bytes keep their context across reloads. */
  readonly fingerprint: string;
  readonly context: SecureContext;
  /** The PEM texts, for a server's default context (setSecureContext). */
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * The certificates of one config, and the SNI choice among them: the certificate whose own
 * names match the requested name exactly, then by wildcard (`*.example.com` matches one label),
 * else the first one. Immutable; a reload builds a new set.
 */
export class CertificateSet {
  readonly list: readonly LoadedCertificate[];
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly #exact = new Map<string, LoadedCertificate>();
  readonly #wildcard = new Map<string, LoadedCertificate>();

  constructor(list: readonly LoadedCertificate[], minVersion: 'TLSv1.2' | 'TLSv1.3') {
    this.list = list;
    this.minVersion = minVersion;
    // Earlier certificates win a name they share with later ones: the config's order decides.
    for (const cert of [...list].reverse()) {
      for (const name of cert.names) {
        if (name.startsWith('*.')) this.#wildcard.set(name.slice(2), cert);
        else this.#exact.set(name, cert);
      }
    }
  }

  /** The certificate for an SNI name; undefined only when the set is empty. */
  select(servername: string | undefined): LoadedCertificate | undefined {
    if (servername !== undefined && servername !== '') {
      const name = servername.toLowerCase();
      const exact = this.#exact.get(name);
      if (exact !== undefined) return exact;
      const dot = name.indexOf('.');
      if (dot !== -1) {
        const wild = this.#wildcard.get(name.slice(dot + 1));
        if (wild !== undefined) return wild;
      }
    }
    return this.list[0];
  }

  get first(): LoadedCertificate | undefined {
    return this.list[0];
  }
}

export const EMPTY_CERTIFICATES = new CertificateSet([], 'TLSv1.2');

/**
 * Reads and checks every certificate and key of `tls.certificates`; the one code path of
 * `validate`, `serve`, every reload and the sidecar. Every problem is reported with the file it
 * is about: unreadable, not PEM, a key that does not match, a certificate that has expired.
 * Pairs whose bytes did not change since `previous` keep their secure context.
 */
export function loadCertificates(
  tls: TlsConfig,
  previous: CertificateSet = EMPTY_CERTIFICATES,
  now: Date = new Date(),
): CertificateSet {
  const issues: ConfigIssue[] = [];
  const loaded: LoadedCertificate[] = [];
  const known = new Map(previous.list.map((c) => [c.fingerprint, c]));
  tls.certificates.forEach((entry, i) => {
    const at = `tls.certificates[${i}]`;
    const fail = (key: string, message: string) => issues.push({ path: `${at}.${key}`, message });
    const cert = readPem(entry.cert_file, 'CERTIFICATE', (m) => fail('cert_file', m));
    const key = readPem(entry.key_file, 'PRIVATE KEY', (m) => fail('key_file', m));
    if (cert === undefined || key === undefined) return;
    const fingerprint = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
    const same = known.get(fingerprint);
    if (
      same !== undefined &&
      same.certFile === entry.cert_file &&
      same.keyFile === entry.key_file
    ) {
      if (same.notAfter <= now) fail('cert_file', expired(entry.cert_file, same.notAfter));
      else loaded.push(same);
      return;
    }
    const checked = checkPair(entry.cert_file, entry.key_file, cert, key, now);
    if (typeof checked === 'string') {
      fail(checked.startsWith('the key') ? 'key_file' : 'cert_file', checked);
      return;
    }
    const context = createSecureContext({ cert, key, minVersion: tls.min_version });
    loaded.push(Object.freeze({ ...checked, fingerprint, context, cert, key }));
  });
  if (issues.length > 0) throw new ConfigInvalidError(issues);
  return new CertificateSet(Object.freeze(loaded), tls.min_version);
}

function readPem(path: string, kind: string, fail: (message: string) => void): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    fail(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
  // "PRIVATE KEY" also matches "EC PRIVATE KEY" and "RSA PRIVATE KEY".
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(bytes.toString('latin1'))) {
    fail(`${path} is not a PEM ${kind === 'CERTIFICATE' ? 'certificate' : 'private key'}`);
    return undefined;
  }
  return bytes;
}

type Checked = Pick<LoadedCertificate, 'certFile' | 'keyFile' | 'names' | 'subject' | 'notAfter'>;

function checkPair(
  certFile: string,
  keyFile: string,
  certPem: Buffer,
  keyPem: Buffer,
  now: Date,
): Checked | string {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    return `${certFile} holds no certificate Node can parse: ${(err as Error).message}`;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    return `the key in ${keyFile} cannot be parsed (encrypted keys are not supported): ${(err as Error).message}`;
  }
  if (!x509.checkPrivateKey(key)) {
    return `the key in ${keyFile} does not match the certificate in ${certFile}`;
  }
  const notAfter = new Date(x509.validTo);
  if (notAfter <= now) return expired(certFile, notAfter);
  return { certFile, keyFile, names: namesOf(x509), subject: x509.subject, notAfter };
}

function expired(certFile: string, notAfter: Date): string {
  return `the certificate in ${certFile} expired on ${notAfter.toISOString()}`;
}

/** DNS names of the subjectAltName; the subject's CN for a certificate without one. */
function namesOf(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san !== undefined) {
    return san
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part.startsWith('DNS:'))
      .map((part) => part.slice(4).toLowerCase());
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

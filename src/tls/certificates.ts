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
  readonly notBefore: Date;
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
  /** Problems that did not stop it loading (expired pairs served, broken ones set aside). */
  readonly warnings: readonly ConfigIssue[];
  readonly #exact = new Map<string, LoadedCertificate>();
  readonly #wildcard = new Map<string, LoadedCertificate>();

  constructor(
    list: readonly LoadedCertificate[],
    minVersion: 'TLSv1.2' | 'TLSv1.3',
    warnings: readonly ConfigIssue[] = [],
  ) {
    this.list = list;
    this.minVersion = minVersion;
    this.warnings = warnings;
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

  /** True when a certificate of this set serves `name` itself (exact, or by its wildcard). */
  serves(name: string): boolean {
    if (name.startsWith('*.')) return this.#wildcard.has(name.slice(2));
    if (this.#exact.has(name)) return true;
    const dot = name.indexOf('.');
    return dot !== -1 && this.#wildcard.has(name.slice(dot + 1));
  }
}

export const EMPTY_CERTIFICATES = new CertificateSet([], 'TLSv1.2');

/**
 * Reads and checks every certificate and key of `tls.certificates`; the one code path of
 * `validate`, `serve`, every reload and the sidecar. The policy (docs/config.md, `tls`), as
 * nginx, Caddy and Envoy behave, so that one certificate can never take every site down:
 * - an expired or not-yet-valid pair is served, with a warning;
 * - a pair that cannot be used (unreadable, not PEM, unparsable, a key that does not match)
 *   keeps the version loaded before (same two files) with a warning; with none loaded, it is
 *   set aside with a warning, and it fails the load only when `previous` is empty (a start,
 *   `validate`) and nothing else serves its names.
 * Pairs whose bytes did not change since `previous` keep their secure context.
 */
export function loadCertificates(
  tls: TlsConfig,
  previous: CertificateSet = EMPTY_CERTIFICATES,
  now: Date = new Date(),
): CertificateSet {
  const warnings: ConfigIssue[] = [];
  const loaded: LoadedCertificate[] = [];
  const setAside: { at: string; key: string; message: string; names?: readonly string[] }[] = [];
  const known = new Map(previous.list.map((c) => [c.fingerprint, c]));
  tls.certificates.forEach((entry, i) => {
    const at = `tls.certificates[${i}]`;
    const pair = loadPair(entry.cert_file, entry.key_file, tls.min_version, known);
    if ('problem' in pair) {
      const before = previous.list.find(
        (c) => c.certFile === entry.cert_file && c.keyFile === entry.key_file,
      );
      if (before !== undefined) {
        loaded.push(before);
        warnings.push({
          path: `${at}.${pair.key}`,
          message: `${pair.problem}; serving the version loaded before`,
        });
      } else {
        setAside.push({ at, key: pair.key, message: pair.problem, names: pair.names });
      }
      return;
    }
    loaded.push(pair.cert);
    const dates = datesProblem(pair.cert, now);
    if (dates !== undefined) warnings.push({ path: `${at}.cert_file`, message: dates });
  });
  const set = new CertificateSet(Object.freeze(loaded), tls.min_version);
  const fatal: ConfigIssue[] = [];
  for (const aside of setAside) {
    const covered =
      aside.names !== undefined &&
      aside.names.length > 0 &&
      aside.names.every((n) => set.serves(n));
    const issue = { path: `${aside.at}.${aside.key}`, message: aside.message };
    if (previous === EMPTY_CERTIFICATES && !covered) fatal.push(issue);
    else warnings.push({ ...issue, message: `${aside.message}; not served` });
  }
  if (fatal.length > 0) throw new ConfigInvalidError(fatal);
  return new CertificateSet(Object.freeze(loaded), tls.min_version, Object.freeze(warnings));
}

type PairResult =
  | { cert: LoadedCertificate }
  | { problem: string; key: 'cert_file' | 'key_file'; names?: readonly string[] };

/** One pair read and checked, or what is wrong with it (and its names, when they could be read). */
function loadPair(
  certFile: string,
  keyFile: string,
  minVersion: TlsConfig['min_version'],
  known: ReadonlyMap<string, LoadedCertificate>,
): PairResult {
  let problem: PairResult | undefined;
  const fail = (key: 'cert_file' | 'key_file') => (message: string) => {
    problem ??= { problem: message, key };
  };
  const cert = readPem(certFile, 'CERTIFICATE', fail('cert_file'));
  const key = readPem(keyFile, 'PRIVATE KEY', fail('key_file'));
  if (cert === undefined || key === undefined) return problem as PairResult;
  const fingerprint = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  const same = known.get(fingerprint);
  if (same !== undefined && same.certFile === certFile && same.keyFile === keyFile) {
    return { cert: same };
  }
  const checked = checkPair(certFile, keyFile, cert, key);
  if ('problem' in checked) return checked;
  const context = createSecureContext({ cert, key, minVersion });
  return { cert: Object.freeze({ ...checked, fingerprint, context, cert, key }) };
}

/** Why a usable pair's dates are wrong today, or undefined. It is served all the same. */
function datesProblem(cert: LoadedCertificate, now: Date): string | undefined {
  if (cert.notAfter <= now) {
    return `the certificate in ${cert.certFile} expired on ${cert.notAfter.toISOString()}; served anyway`;
  }
  if (cert.notBefore > now) {
    return `the certificate in ${cert.certFile} is not valid before ${cert.notBefore.toISOString()}; served anyway`;
  }
  return undefined;
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

type Checked = Pick<
  LoadedCertificate,
  'certFile' | 'keyFile' | 'names' | 'subject' | 'notAfter' | 'notBefore'
>;

function checkPair(
  certFile: string,
  keyFile: string,
  certPem: Buffer,
  keyPem: Buffer,
): Checked | { problem: string; key: 'cert_file' | 'key_file'; names?: readonly string[] } {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    return {
      problem: `${certFile} holds no certificate Node can parse: ${(err as Error).message}`,
      key: 'cert_file',
    };
  }
  const names = namesOf(x509);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    return {
      problem: `the key in ${keyFile} cannot be parsed (encrypted keys are not supported): ${(err as Error).message}`,
      key: 'key_file',
      names,
    };
  }
  if (!x509.checkPrivateKey(key)) {
    return {
      problem: `the key in ${keyFile} does not match the certificate in ${certFile}`,
      key: 'key_file',
      names,
    };
  }
  return {
    certFile,
    keyFile,
    names,
    subject: x509.subject,
    notAfter: new Date(x509.validTo),
    notBefore: new Date(x509.validFrom),
  };
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

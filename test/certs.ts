import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';

export interface TestCertificate {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * An ECDSA P-256 certificate made by Debian's openssl for a test (never a committed key):
 * self-signed, with `names` as its DNS subjectAltNames. `expired` dates it 2020-01-01 to
 * 2020-01-02, through `openssl ca`, which is the 3.0 way to choose both dates.
 */
export function makeCertificate(
  dir: string,
  name: string,
  names: readonly string[],
  options: { expired?: boolean } = {},
): TestCertificate {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const san = `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`;
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const subject = ['-subj', `/CN=${names[0] ?? name}`];
  if (options.expired !== true) {
    run([
      'req',
      '-x509',
      ...key,
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      ...subject,
      '-addext',
      san,
    ]);
    return { certFile, keyFile };
  }
  const ca = join(dir, `${name}-ca`);
  mkdirSync(join(ca, 'new'), { recursive: true });
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '01\n');
  const cnf = join(ca, 'ca.cnf');
  writeFileSync(
    cnf,
    `[ca]\ndefault_ca=d\n[d]\ndatabase=${ca}/index.txt\nnew_certs_dir=${ca}/new\nserial=${ca}/serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n`,
  );
  const csr = join(ca, 'req.csr');
  run(['req', '-new', ...key, '-keyout', keyFile, '-out', csr, ...subject]);
  run([
    'ca',
    '-batch',
    '-config',
    cnf,
    '-selfsign',
    '-keyfile',
    keyFile,
    '-in',
    csr,
    '-out',
    certFile,
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  ]);
  return { certFile, keyFile };
}

function run(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** Connects over TLS and returns the CN of the certificate the proxy chose for `servername`. */
export async function servedName(port: number, servername?: string): Promise<string> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    rejectUnauthorized: false,
    ...(servername === undefined ? {} : { servername }),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const cn = String(socket.getPeerCertificate().subject.CN);
  socket.destroy();
  return cn;
}

// One-shot init for the compose example: a self-signed ECDSA P-256 certificate for localhost,
// made with nothing but the image's Node (no openssl in the image), into DIR/tls.crt and
// DIR/tls.key (0600). Kept when a valid one for more than a day is already there, so restarts
// serve the same certificate. A demo certificate: curl needs -k (or --cacert DIR/tls.crt).
//   node make-cert.mjs DIR
import {
  X509Certificate,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto';
import { Buffer } from 'node:buffer';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: node make-cert.mjs DIR');
const NAMES = ['localhost', '*.localhost'];
const DAYS = 30;
const certPath = join(dir, 'tls.crt');
const keyPath = join(dir, 'tls.key');

try {
  const cert = new X509Certificate(readFileSync(certPath));
  const key = createPrivateKey(readFileSync(keyPath));
  if (cert.checkPrivateKey(key) && Date.parse(cert.validTo) - Date.now() > 86_400_000) {
    console.log(`keeping ${certPath} (${cert.subject}, valid to ${cert.validTo})`);
    process.exit(0);
  }
} catch {
  // none yet, or unreadable: make a new pair
}

// DER, just the parts an X.509 v3 certificate needs.
const len = (n) => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...parts) => tlv(0x30, ...parts);
const oid = (hex) => tlv(0x06, Buffer.from(hex, 'hex'));
const utcTime = (date) =>
  tlv(0x17, Buffer.from(`${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`, 'ascii'));
const ECDSA_SHA256 = seq(oid('2a8648ce3d040302')); // 1.2.840.10045.4.3.2
const name = seq(tlv(0x31, seq(oid('550403'), tlv(0x0c, Buffer.from(NAMES[0], 'utf8'))))); // CN

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const serial = randomBytes(16);
serial[0] &= 0x7f; // positive
const now = Date.now();
const san = seq(
  ...NAMES.map((n) => tlv(0x82, Buffer.from(n, 'ascii'))),
  tlv(0x87, Buffer.from([127, 0, 0, 1])),
);
const tbs = seq(
  tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
  tlv(0x02, serial),
  ECDSA_SHA256,
  name,
  seq(utcTime(new Date(now - 3_600_000)), utcTime(new Date(now + DAYS * 86_400_000))),
  name,
  publicKey.export({ type: 'spki', format: 'der' }),
  tlv(0xa3, seq(seq(oid('551d11'), tlv(0x04, san)))), // subjectAltName
);
const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sign('sha256', tbs, privateKey)));
const pem = `-----BEGIN CERTIFICATE-----\n${der
  .toString('base64')
  .match(/.{1,64}/g)
  .join('\n')}\n-----END CERTIFICATE-----\n`;
if (!new X509Certificate(pem).verify(publicKey))
  throw new Error('the new certificate does not verify');

mkdirSync(dir, { recursive: true, mode: 0o700 });
// Key first, then the certificate, each renamed into place whole.
writeFileSync(`${keyPath}.tmp`, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
  mode: 0o600,
});
renameSync(`${keyPath}.tmp`, keyPath);
writeFileSync(`${certPath}.tmp`, pem, { mode: 0o644 });
renameSync(`${certPath}.tmp`, certPath);
console.log(`made ${certPath}: ${new X509Certificate(pem).subjectAltName}, valid ${DAYS} days`);

/**
 * The API server's credentials, made on first start and kept in `<dataDir>/pki`: a CA, a serving
 * certificate it signs (for 127.0.0.1, localhost and the in-cluster names), and a bearer token.
 * Keys come from Node's crypto (fast, native); node-forge builds and signs the certificates.
 * Also writes the kubeconfig that points kubectl at the server.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import forge from 'node-forge';
import { stringify } from 'yaml';

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  token: string;
}

const FILES = { caCert: 'ca.crt', caKey: 'ca.key', serverCert: 'apiserver.crt', serverKey: 'apiserver.key', token: 'token' } as const;
const CA_YEARS = 10;
const SERVER_YEARS = 5;

function rsaKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privatePem: privateKey, publicPem: publicKey };
}

/** A positive serial number (Go's TLS stack refuses negative ones). */
function serial(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  return b.toString('hex');
}

function validity(cert: forge.pki.Certificate, years: number): void {
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + years * 365 * 24 * 60 * 60 * 1000);
}

function makeCa(): { cert: string; key: string } {
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicPem);
  cert.serialNumber = serial();
  validity(cert, CA_YEARS);
  const subject = [{ name: 'commonName', value: 'actorkube-ca' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privatePem), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privatePem };
}

function makeServerCert(caCertPem: string, caKeyPem: string): { cert: string; key: string } {
  const ca = forge.pki.certificateFromPem(caCertPem);
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicPem);
  cert.serialNumber = serial();
  validity(cert, SERVER_YEARS);
  cert.setSubject([{ name: 'commonName', value: 'actorkube-apiserver' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 2, value: 'kubernetes' },
        { type: 2, value: 'kubernetes.default' },
        { type: 2, value: 'kubernetes.default.svc' },
        { type: 2, value: 'kubernetes.default.svc.cluster.local' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '10.96.0.1' },
      ],
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(caKeyPem), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privatePem };
}

function writeSecret(path: string, data: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Loads the credentials in `dir`, making whatever is missing. */
export function ensurePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  const p = (f: keyof typeof FILES) => join(dir, FILES[f]);
  if (!existsSync(p('caCert')) || !existsSync(p('caKey'))) {
    const ca = makeCa();
    writeSecret(p('caKey'), ca.key);
    writeFileSync(p('caCert'), ca.cert);
    // A new CA invalidates the old serving certificate.
    if (existsSync(p('serverCert'))) writeFileSync(p('serverCert'), '');
  }
  const caCert = readFileSync(p('caCert'), 'utf8');
  if (!existsSync(p('serverCert')) || !existsSync(p('serverKey')) || readFileSync(p('serverCert'), 'utf8').trim() === '') {
    const server = makeServerCert(caCert, readFileSync(p('caKey'), 'utf8'));
    writeSecret(p('serverKey'), server.key);
    writeFileSync(p('serverCert'), server.cert);
  }
  if (!existsSync(p('token')) || readFileSync(p('token'), 'utf8').trim() === '') writeSecret(p('token'), randomBytes(32).toString('hex') + '\n');
  return {
    caCert,
    serverCert: readFileSync(p('serverCert'), 'utf8'),
    serverKey: readFileSync(p('serverKey'), 'utf8'),
    token: readFileSync(p('token'), 'utf8').trim(),
  };
}

/** The kubeconfig document for a server URL, CA and token. */
export function kubeconfig(server: string, caCert: string, token: string, name = 'actorkube'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': Buffer.from(caCert).toString('base64') } }],
    users: [{ name: `${name}-admin`, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  });
}

/** Writes a kubeconfig atomically (readable by the owner only: it holds the token). */
export function writeKubeconfig(path: string, server: string, caCert: string, token: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeSecret(path, kubeconfig(server, caCert, token));
}

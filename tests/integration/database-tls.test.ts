import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Readable } from 'node:stream';
import postgres, { type Sql } from 'postgres';
import { copyIn, openDatabase, withDatabase, type SecretReader } from '../../functions/shared/database';
import { ConfigurationError, RETRYABLE_ERROR_NAMES } from '../../functions/shared/errors';
import { runLocalExecution } from '../../scripts/local/execution';
import { VERIFY_INPUT } from '../../functions/shared/step-contract';
import { seedSampleTotesys, startLocalPipeline } from '../support/local-pipeline';
import { createDatabaseOn, startTestPostgres, urlOf, type TestPostgres } from '../support/tls-postgres';

/**
 * Encrypted connections on real PostgreSQL (docs/database-tls.md): a server that accepts only TLS
 * (pg_hba.conf of hostssl lines, a certificate for `localhost` signed by a CA made by the test)
 * and one without TLS, both embedded, both listening on every address. Everything goes through
 * openDatabase / withDatabase, the functions the step handlers connect with.
 */

const SAMPLE_SALES_ORDERS = 33;
const noSecrets: SecretReader = async () => {
  throw new Error('no secrets here');
};

/** Whether the session of `sql` is encrypted, as the server sees it. */
async function sessionEncrypted(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ ssl: boolean }[]>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
  return row!.ssl;
}

/** Opens `url` with openDatabase (no DATABASE_* settings unless given), asks whether the session is encrypted, closes. */
async function encryptedVia(url: string, tls: Parameters<typeof openDatabase>[2] = {}): Promise<boolean> {
  const sql = openDatabase(url, { max: 1, connect_timeout: 10 }, tls);
  try {
    return await sessionEncrypted(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** The error opening `url` ends in (the test fails when it connects). */
async function refusal(url: string, tls: Parameters<typeof openDatabase>[2] = {}): Promise<Error> {
  const sql = openDatabase(url, { max: 1, connect_timeout: 10 }, tls);
  try {
    await sql`SELECT 1`;
  } catch (error) {
    return error as Error;
  } finally {
    await sql.end({ timeout: 1 });
  }
  throw new Error(`connecting to ${new URL(url).host} was expected to fail, and did not`);
}

/** The error `work` fails with (the test fails when it succeeds). */
async function failureOf(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure, and there was none');
}

/** This machine's first non-loopback IPv4 address, if it has one. */
function nonLoopbackAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

describe('encrypted database connections', () => {
  let tlsServer: TestPostgres | undefined;
  let plainServer: TestPostgres | undefined;
  const saved = { DATABASE_SSLMODE: process.env.DATABASE_SSLMODE, DATABASE_SSL_ROOT_CERT: process.env.DATABASE_SSL_ROOT_CERT };
  /** Runs the test only where the embedded servers run (startTestPostgres said why not, loudly, otherwise). */
  const withServers = (test: (tls: TestPostgres, plain: TestPostgres) => Promise<void>) => async () => {
    if (!tlsServer || !plainServer) return;
    await test(tlsServer, plainServer);
  };

  beforeAll(async () => {
    delete process.env.DATABASE_SSLMODE;
    delete process.env.DATABASE_SSL_ROOT_CERT;
    tlsServer = await startTestPostgres({ tls: true });
    plainServer = tlsServer && (await startTestPostgres({ tls: false }));
  }, 180_000);

  afterAll(async () => {
    await tlsServer?.stop();
    await plainServer?.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }, 60_000);

  describe('against a server that accepts only TLS', () => {
    it(
      'runs Extract, Transform and Load (and Verify) with plain URLs to 127.0.0.1, every session of theirs encrypted',
      withServers(async (server) => {
        const totesysUrl = await createDatabaseOn(server, 'tls_totesys');
        const warehouseUrl = await createDatabaseOn(server, 'tls_warehouse');
        expect(new URL(totesysUrl).hostname).toBe('127.0.0.1');
        expect(new URL(totesysUrl).search).toBe('');
        const totesys = openDatabase(totesysUrl, { max: 2 });
        const local = await startLocalPipeline({ totesysUrl, warehouseUrl });
        try {
          await seedSampleTotesys(totesys);
          expect(await sessionEncrypted(totesys)).toBe(true);
          const logBefore = server.log().length;

          const record = await runLocalExecution({ home: local.home, handlers: local.realHandlers(), retryIntervalMs: 1 });

          expect({ status: record.status, error: (record as { error?: unknown }).error }).toMatchObject({ status: 'SUCCEEDED' });
          expect(record.steps.map((step) => step.step)).toEqual(['extract', 'transform', 'load']);
          expect(record.output).toMatchObject({
            extract: { rows: expect.objectContaining({ sales_order: SAMPLE_SALES_ORDERS }) },
            load: { rows: expect.objectContaining({ fact_sales_order: SAMPLE_SALES_ORDERS }) },
          });
          // Verify reads both databases at once, through two pools.
          const verification = await runLocalExecution({ home: local.home, handlers: local.realHandlers(), retryIntervalMs: 1, input: VERIFY_INPUT });
          expect({ status: verification.status, steps: verification.steps.map((step) => step.step) }).toEqual({ status: 'SUCCEEDED', steps: ['verify'] });

          const warehouse = openDatabase(warehouseUrl, { max: 1 });
          try {
            expect(await sessionEncrypted(warehouse)).toBe(true);
            const [row] = await warehouse<{ n: number }[]>`SELECT count(*)::int AS n FROM fact_sales_order`;
            expect(row!.n).toBe(SAMPLE_SALES_ORDERS);
          } finally {
            await warehouse.end();
          }
          // The server logs every connection it authorizes: the handlers' ones to both databases, each encrypted.
          const authorized = server
            .log()
            .slice(logBefore)
            .split('\n')
            .filter((line) => line.includes('connection authorized'));
          expect(authorized.filter((line) => line.includes('database=tls_totesys')).length).toBeGreaterThan(0);
          expect(authorized.filter((line) => line.includes('database=tls_warehouse')).length).toBeGreaterThan(0);
          expect(authorized.filter((line) => !line.includes('SSL enabled'))).toEqual([]);
        } finally {
          await local.stop();
          await totesys.end();
        }
      }),
      240_000,
    );

    it(
      'keeps TCP_NODELAY under TLS: a small COPY takes milliseconds, not the ~40-85 ms of a delayed ACK',
      withServers(async (server) => {
        const sql = openDatabase(server.adminUrl, { max: 1 }, {});
        try {
          expect(await sessionEncrypted(sql)).toBe(true);
          await sql`CREATE TEMP TABLE nodelay (a text)`;
          const started = performance.now();
          for (let i = 0; i < 10; i += 1) await copyIn(sql, 'COPY nodelay FROM STDIN', Readable.from(['a\n', 'b\n', 'c\n']));
          expect((performance.now() - started) / 10).toBeLessThan(30);
        } finally {
          await sql.end();
        }
      }),
    );

    it(
      'verifies the server with verify-full and the custom CA (a file in the URL, DATABASE_SSL_ROOT_CERT, PEM text in an RDS-layout secret)',
      withServers(async (server) => {
        const { caFile, caPem } = server.certificates!;
        expect(await encryptedVia(urlOf(server, { host: 'localhost', query: { sslmode: 'verify-full', sslrootcert: caFile } }))).toBe(true);
        expect(await encryptedVia(urlOf(server, { host: 'localhost' }), { sslmode: 'verify-full', rootCert: caFile })).toBe(true);
        // verify-ca checks the CA only: an address the certificate does not name is fine.
        expect(await encryptedVia(urlOf(server, { query: { sslmode: 'verify-ca', sslrootcert: caFile } }))).toBe(true);

        const secret = JSON.stringify({ username: 'postgres', password: 'postgres', host: 'localhost', port: server.port, dbname: 'postgres', sslmode: 'verify-full', sslrootcert: caPem });
        const encrypted = await withDatabase('Warehouse', { secretId: 'warehouse' }, async () => secret, sessionEncrypted, undefined, {});
        expect(encrypted).toBe(true);
      }),
    );

    it(
      'refuses verify-full for a host the certificate does not name, and without the CA that signed it, naming sslmode',
      withServers(async (server) => {
        const { caFile } = server.certificates!;
        const wrongHost = await refusal(urlOf(server, { host: '127.0.0.1', query: { sslmode: 'verify-full', sslrootcert: caFile } }));
        expect(wrongHost).toBeInstanceOf(ConfigurationError);
        expect(wrongHost.message).toMatch(/sslmode is verify-full/);
        expect(wrongHost.message).toContain('does not name "127.0.0.1"');
        expect(wrongHost.message).toContain('sslmode=verify-ca');

        // No CA named: the Amazon RDS bundle is trusted, which did not sign this server's certificate.
        const noCa = await refusal(urlOf(server, { host: 'localhost', query: { sslmode: 'verify-full' } }));
        expect(noCa).toBeInstanceOf(ConfigurationError);
        expect(noCa.message).toMatch(/sslmode is verify-full .*trusting the Amazon RDS certificate bundle/);
        expect(noCa.message).toContain('DATABASE_SSL_ROOT_CERT');

        // Through withDatabase, as a handler connects: a ConfigurationError, which the state machine does not retry.
        const failure = await failureOf(withDatabase('ToteSys', { url: urlOf(server, { host: 'localhost' }) }, noSecrets, (sql) => sql`SELECT 1`, undefined, { sslmode: 'verify-full' }));
        expect(failure).toBeInstanceOf(ConfigurationError);
        expect(failure.message).toMatch(/^ToteSys database at localhost:\d+\/postgres: .*DATABASE_SSLMODE=verify-full/);
        expect(RETRYABLE_ERROR_NAMES).not.toContain(failure.name);
      }),
    );

    it(
      'refuses a plain connection (sslmode=disable) with a message naming sslmode',
      withServers(async (server) => {
        const failure = await failureOf(withDatabase('Warehouse', { url: urlOf(server, { query: { sslmode: 'disable' } }) }, noSecrets, (sql) => sql`SELECT 1`, undefined, {}));
        expect(failure).toBeInstanceOf(ConfigurationError);
        expect(failure.message).toContain('no encryption');
        expect(failure.message).toContain('remove sslmode=disable from the URL in WAREHOUSE_DATABASE_URL');
      }),
    );

    it(
      'encrypts by default a connection to a non-loopback address (require)',
      withServers(async (server) => {
        const address = nonLoopbackAddress();
        if (!address) {
          console.warn('SKIPPED: this machine has no non-loopback IPv4 address; the decision is unit-tested in tests/unit/database-tls.test.ts');
          return;
        }
        expect(await encryptedVia(urlOf(server, { host: address }))).toBe(true);
      }),
    );

    it(
      'reaches a loopback server by [::1] too, encrypted',
      withServers(async (server) => {
        const reachable = await new Promise<boolean>((resolve) => {
          const probe = connect({ host: '::1', port: server.port });
          probe.once('connect', () => resolve(true)).once('error', () => resolve(false));
          probe.once('close', () => resolve(false));
          setTimeout(() => probe.destroy(), 50).unref();
        });
        if (!reachable) {
          console.warn('SKIPPED: the test server cannot be reached on ::1 here (no IPv6 loopback)');
          return;
        }
        expect(await encryptedVia(urlOf(server, { host: '[::1]' }))).toBe(true);
      }),
    );
  });

  describe('against a server without TLS', () => {
    /** The ordinary test server when it has no TLS (as is usual), else the embedded one started without. */
    async function serverWithoutTls(plain: TestPostgres): Promise<{ adminUrl: string }> {
      const named = process.env.TEST_POSTGRES_URL;
      if (named) {
        const sql = postgres(named, { max: 1, onnotice: () => {} });
        try {
          const [row] = await sql<{ ssl: string }[]>`SHOW ssl`;
          if (row!.ssl === 'off') return { adminUrl: named };
        } finally {
          await sql.end();
        }
      }
      return plain;
    }

    it(
      'refuses sslmode=require with a ConfigurationError naming sslmode, not a retryable error, and the pool stays usable',
      withServers(async (_tls, plain) => {
        const server = await serverWithoutTls(plain);
        const url = urlOf(server, { query: { sslmode: 'require' } });
        const sql = openDatabase(url, { max: 1, connect_timeout: 10 }, {});
        try {
          const first = await failureOf(sql`SELECT 1`);
          expect(first).toBeInstanceOf(ConfigurationError);
          expect(first.message).toMatch(/does not accept encrypted connections .*sslmode is require \(sslmode=require in the database URL\)/);
          // Refused again, not left waiting: the pool's connection went back to be tried anew.
          const second = await failureOf(sql`SELECT 1`);
          expect(second).toBeInstanceOf(ConfigurationError);
        } finally {
          await sql.end({ timeout: 1 });
        }

        const failure = await failureOf(withDatabase('ToteSys', { url }, noSecrets, (db) => db`SELECT 1`, undefined, {}));
        expect(failure).toBeInstanceOf(ConfigurationError);
        expect(failure.message).toMatch(/^ToteSys database at .*sslmode=prefer \(or disable\) in the URL in TOTESYS_DATABASE_URL/);
        expect(RETRYABLE_ERROR_NAMES).not.toContain(failure.name);

        // DATABASE_SSLMODE applies to a loopback server as well, once set.
        const byEnv = await refusal(urlOf(server), { sslmode: 'require' });
        expect(byEnv.message).toContain('sslmode is require (DATABASE_SSLMODE=require)');
      }),
    );

    it(
      'connects in plain to a loopback server with no sslmode, and with prefer or allow',
      withServers(async (_tls, plain) => {
        const server = await serverWithoutTls(plain);
        expect(await encryptedVia(urlOf(server))).toBe(false);
        expect(await encryptedVia(urlOf(server, { query: { sslmode: 'prefer' } }))).toBe(false);
        expect(await encryptedVia(urlOf(server, { query: { sslmode: 'allow' } }))).toBe(false);
      }),
    );

    it(
      'refuses a non-loopback address with no sslmode, naming sslmode; sslmode=disable connects',
      withServers(async (_tls, plain) => {
        const address = nonLoopbackAddress();
        if (!address) {
          console.warn('SKIPPED: this machine has no non-loopback IPv4 address; the decision is unit-tested in tests/unit/database-tls.test.ts');
          return;
        }
        const failure = await refusal(urlOf(plain, { host: address }));
        expect(failure).toBeInstanceOf(ConfigurationError);
        expect(failure.message).toContain(`PostgreSQL database at ${address}:${plain.port}/postgres does not accept encrypted connections`);
        expect(failure.message).toContain('sslmode is require (the default)');
        // The same server, the same address: reachable, so the refusal was TLS's.
        expect(await encryptedVia(urlOf(plain, { host: address, query: { sslmode: 'disable' } }))).toBe(false);
      }),
    );
  });
});

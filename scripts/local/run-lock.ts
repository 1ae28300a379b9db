import { randomUUID } from 'node:crypto';
import { linkSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { age, isSameProcess, processIdentity } from './processes';

/**
 * One local run at a time per PIPELINE_HOME: `home/run.lock` names the process that holds it (PID,
 * its identity, what it runs, since when). A lock whose process has gone (killed, crashed, a
 * zombie, or its PID now reused by another program) is stale and is taken over; a lock held by a
 * live run is reported, with how to clear it if it is wrong.
 *
 * The lock is created whole or not at all (written to a file of its own, then hard-linked into
 * place, which fails if a lock exists), so a reader never sees a half-written one.
 */
export interface RunLockHolder {
  readonly pid: number;
  readonly identity?: string;
  readonly command: string;
  readonly startedAt: string;
  readonly token: string;
}

export interface RunLock {
  readonly file: string;
  /** The lock this one replaced, when a run ended without releasing it. */
  readonly stale?: RunLockHolder;
  release(): void;
}

export class RunInProgressError extends Error {
  override readonly name = 'RunInProgressError';
  constructor(
    readonly holder: RunLockHolder,
    readonly file: string,
  ) {
    super(describeHolder(holder, file));
  }
}

export function runLockFile(home: string): string {
  return path.join(home, 'run.lock');
}

/** Takes the lock of `home` for `command`, or throws RunInProgressError naming the run that holds it. */
export function acquireRunLock(home: string, command: string): RunLock {
  const file = runLockFile(home);
  const me: RunLockHolder = { pid: process.pid, identity: processIdentity(process.pid), command, startedAt: new Date().toISOString(), token: randomUUID() };
  let stale: RunLockHolder | undefined;
  // Twice at most: once, and once more after clearing a stale lock.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (tryCreate(file, me)) return { file, stale, release: () => releaseRunLock(file, me.token) };
    const holder = readHolder(file);
    if (holder && isSameProcess(holder.pid, holder.identity)) {
      throw new RunInProgressError(holder, file);
    }
    // Gone (or unreadable: no live run leaves its lock half-written). Clear it, unless another
    // starting run replaced it meanwhile.
    if (readHolder(file)?.token === holder?.token) rmSync(file, { force: true });
    stale = holder;
  }
  const holder = readHolder(file);
  if (holder) throw new RunInProgressError(holder, file);
  throw new Error(`Could not take the lock ${file}`);
}

function tryCreate(file: string, holder: RunLockHolder): boolean {
  const draft = `${file}.${holder.token}`;
  writeFileSync(draft, `${JSON.stringify(holder, null, 2)}\n`);
  try {
    linkSync(draft, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}

export function readHolder(file: string): RunLockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(file, 'utf-8')) as RunLockHolder;
    return typeof holder.pid === 'number' ? holder : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the lock if it is still this run's (synchronous: it runs on the way out of a signal). */
function releaseRunLock(file: string, token: string): void {
  if (readHolder(file)?.token !== token) return;
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}

export function describeHolder(holder: RunLockHolder, file: string): string {
  return [
    `Another local run is in progress in this PIPELINE_HOME: ${holder.command}, PID ${holder.pid}, since ${holder.startedAt} (${age(holder.startedAt)} ago).`,
    `Wait for it to finish, or stop it with: kill ${holder.pid} (it records itself as aborted).`,
    `If no such run exists (the lock is wrong), delete ${file} and start again.`,
  ].join('\n');
}

/** One line about a stale lock that was cleared. */
export function describeStaleLock(holder: RunLockHolder): string {
  return `Cleared the lock of a run that ended without releasing it (${holder.command}, PID ${holder.pid}, started ${holder.startedAt}): its process is gone.`;
}

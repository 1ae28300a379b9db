import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Telling a live process from a PID that only looks live. A local run records its PID and this
 * identity; a later run trusts the record only while the same process still has that PID. A PID
 * alone is not enough: a killed run's PID can belong to a zombie (exited, not yet reaped, yet
 * `kill(pid, 0)` succeeds) or, later, to an unrelated process that was given the same number.
 */

/**
 * What distinguishes the process now holding `pid` from any other that held it before or will
 * after: on Linux the boot and the process's start time in clock ticks since boot
 * (/proc/<pid>/stat, field 22); on other Unixes the start time `ps` reports; on Windows only that
 * the PID is in use. Undefined when no process has that PID, or its process has exited (a zombie).
 */
export function processIdentity(pid: number): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (process.platform === 'linux') return linuxIdentity(pid);
  if (process.platform === 'win32') return pidInUse(pid) ? 'in-use' : undefined;
  return psIdentity(pid);
}

/** True when `pid` is still the process whose identity was recorded (a record without one trusts the PID). */
export function isSameProcess(pid: number, identity: string | undefined): boolean {
  const now = processIdentity(pid);
  if (now === undefined) return false;
  return identity === undefined || identity === now;
}

let bootId: string | undefined;

function linuxIdentity(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf-8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined;
  bootId ??= readBootId();
  return `${bootId}:${fields[19]}`;
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf-8').trim();
  } catch {
    return 'boot';
  }
}

function psIdentity(pid: number): string | undefined {
  try {
    const line = execFileSync('ps', ['-o', 'stat=', '-o', 'lstart=', '-p', String(pid)], { encoding: 'utf-8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (line === '' || line.startsWith('Z')) return undefined;
    return line.replace(/^\S+\s+/, '');
  } catch {
    return pidInUse(pid) ? 'in-use' : undefined;
  }
}

function pidInUse(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How long ago `iso` was, for people: "40 s", "12 min", "3 h", "2 days". */
export function age(iso: string, now: Date = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  if (Number.isNaN(seconds)) return 'an unknown time';
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

/** The command this process runs, as a person typed it: `npm start`, `npm run seed`, or the script's name. */
export function thisCommand(argv: readonly string[] = process.argv): string {
  const script = (argv[1] ?? '').replace(/\\/g, '/');
  if (script.endsWith('scripts/run-local.ts')) return 'npm start';
  if (script.endsWith('scripts/local/warehouse-server.ts')) return 'npm run warehouse';
  const npmScript = /scripts\/([a-z-]+)\.ts$/.exec(script)?.[1];
  if (npmScript) return `npm run ${npmScript}`;
  return path.basename(script) || 'node';
}
